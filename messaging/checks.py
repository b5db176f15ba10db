"""Deploy checks (`manage.py check --deploy`): production settings that would lose
messages without an error anywhere."""

from django.conf import settings
from django.core.checks import Warning, register

_LOCAL_EMAIL = ("console", "locmem", "dummy", "filebased")
_LOCAL_BACKENDS = ("messaging.backends.console.", "messaging.backends.memory.")


@register(deploy=True)
def messages_leave_the_server(app_configs=None, **kwargs) -> list[Warning]:
    found = []
    if any(f"backends.{name}." in settings.EMAIL_BACKEND for name in _LOCAL_EMAIL):
        found.append(
            Warning(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: e-mails are marked sent but "
                "never leave the server.",
                hint="Set EMAIL_URL to your SMTP server, or EMAIL_BACKEND to an anymail ESP.",
                id="messaging.W001",
            )
        )
    for channel, path in [
        ("SMS", settings.MESSAGES_SMS_BACKEND),
        ("PUSH", settings.MESSAGES_PUSH_BACKEND),
    ]:
        if path.startswith(_LOCAL_BACKENDS):
            found.append(
                Warning(
                    f"MESSAGES_{channel}_BACKEND is {path}: {channel} messages are marked sent "
                    "but never reach a provider.",
                    hint=f"Set MESSAGES_{channel}_BACKEND and MESSAGES_{channel}_OPTIONS to your "
                    "provider's backend (e.g. messaging.backends.http_json.HttpBackend).",
                    id="messaging.W002",
                )
            )
    if not settings.LOYALTY_PUBLIC_URL.startswith("https://"):
        found.append(
            Warning(
                f"LOYALTY_PUBLIC_URL is {settings.LOYALTY_PUBLIC_URL}: unsubscribe and survey "
                "links in messages would not reach the site (one-click unsubscribe needs "
                "https).",
                hint="Set LOYALTY_PUBLIC_URL to the site's https address.",
                id="messaging.W003",
            )
        )
    return found
