"""Production settings: deploy checks, the secret key, the default language, CI's database.

The settings are read once per process, so production is started in a subprocess with
its own environment. Variables are set to "" rather than removed, so that a developer's
.env file (read without overwriting) cannot fill them in.
"""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION_HOST = "loyalty.example.ru"


def production_env(tmp_path, **overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "DJANGO_")) and name not in {"LOYALTY_TESTING", "CI"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="loyalty.settings",
        DEBUG="",
        LOYALTY_TESTING="",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS=PRODUCTION_HOST,
        # Messages leave the server (messaging's deploy checks).
        EMAIL_URL="smtp+tls://loyalty:secret@smtp.example.ru:587",
        EMAIL_BACKEND="",
        MESSAGES_SMS_BACKEND="messaging.backends.http_json.HttpBackend",
        MESSAGES_PUSH_BACKEND="messaging.backends.http_json.HttpBackend",
        LOYALTY_PUBLIC_URL=f"https://{PRODUCTION_HOST}",
        # An empty database: the checks must not need one (a build step has none).
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    )
    env.update(overrides)
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_checks_are_clean_with_production_settings(tmp_path):
    # given production settings: DEBUG unset, a long random key, the site's host
    env = production_env(tmp_path)

    # when
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_deploy_checks_warn_when_messages_would_not_leave_the_server(tmp_path):
    # given production settings with the development defaults of the message channels
    env = production_env(
        tmp_path,
        EMAIL_URL="consolemail://",
        MESSAGES_SMS_BACKEND="messaging.backends.console.ConsoleBackend",
        MESSAGES_PUSH_BACKEND="messaging.backends.memory.MemoryBackend",
        LOYALTY_PUBLIC_URL="http://127.0.0.1:8000",
    )

    # when
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    # then
    assert result.returncode == 1
    output = result.stdout + result.stderr
    for check_id in ["messaging.W001", "messaging.W003"]:
        assert output.count(check_id) == 1, output
    assert output.count("messaging.W002") == 2, output  # SMS and push


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        ("", "SECRET_KEY is not set. Production refuses to start without a real secret key"),
        ("short-but-set", "SECRET_KEY must be a random string of at least 50 characters."),
        (
            "django-insecure-development-only-key-never-use-in-production",
            "SECRET_KEY must be a random string of at least 50 characters.",
        ),
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(tmp_path, secret_key, message):
    # given production settings with a missing, short or development key
    env = production_env(tmp_path, SECRET_KEY=secret_key)

    # when the WSGI application (what gunicorn loads) starts
    result = run([sys.executable, "-c", "import loyalty.wsgi"], env)

    # then it refuses with a clear message
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_russian_is_the_default_language_whatever_the_browser_asks(client):
    # when an English browser opens the login page
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    # then it is in Russian
    assert response.status_code == 200
    assert response["Content-Language"] == "ru"
    assert "Имя пользователя" in response.text
    assert "Username" not in response.text


def test_english_is_shown_when_the_user_chose_it(client):
    # given the language cookie the switcher sets
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    # when
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="ru")

    # then
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert "Username" in response.text


def test_the_suite_refuses_to_run_on_sqlite_under_ci(tmp_path):
    # given CI without a PostgreSQL DATABASE_URL
    env = production_env(tmp_path, CI="true", DATABASE_URL="")
    env.pop("DJANGO_SETTINGS_MODULE")

    # when pytest starts
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            f"{__file__}::test_english_is_shown_when_the_user_chose_it",
        ],
        env,
    )

    # then it stops before any test with a loud error
    assert result.returncode == 3, result.stdout + result.stderr
    assert "CI must run the test suite on PostgreSQL" in result.stdout + result.stderr
    assert "passed" not in result.stdout
