"""Who may open which message page: marketer, cashier, outsider, a staff user without
message permissions and nobody. 302 is a redirect to the admin login."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from messaging.models import Message, MessageTemplate
from tests import factories
from tests.clients import staff_client as client_for


@pytest.fixture
def pages(member, failed_message) -> dict[str, str]:
    template = MessageTemplate.objects.get(kind="nps", channel="sms", campaign=None)
    survey = factories.SurveyFactory(member=member)
    device = member.push_devices.create(token="device-token-1", platform="android")
    return {
        "outbox": reverse("admin:messaging_message_changelist"),
        "message page": reverse("admin:messaging_message_change", args=[failed_message.pk]),
        "delivery by day": reverse("admin:messaging_message_delivery_by_day"),
        "templates": reverse("admin:messaging_messagetemplate_changelist"),
        "template add": reverse("admin:messaging_messagetemplate_add"),
        "template page": reverse("admin:messaging_messagetemplate_change", args=[template.pk]),
        "template history": reverse("admin:messaging_messagetemplate_history", args=[template.pk]),
        "preview": reverse("admin:messaging_messagetemplate_preview", args=[template.pk]),
        "surveys": reverse("admin:messaging_survey_changelist"),
        "survey page": reverse("admin:messaging_survey_change", args=[survey.pk]),
        "push devices": reverse("admin:messaging_pushdevice_changelist"),
        "push device page": reverse("admin:messaging_pushdevice_change", args=[device.pk]),
    }


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("marketer", 200), ("cashier", 302), ("outsider", 302), ("staff", 403), ("anonymous", 302)],
)
def test_each_persona_on_each_message_page(request, pages, persona, expected):
    # given
    if persona == "anonymous":
        client = Client()
    elif persona == "staff":
        client = client_for(factories.UserFactory(username="support", is_staff=True))
    else:
        client = client_for(request.getfixturevalue(persona))

    # when
    statuses = {name: client.get(url).status_code for name, url in pages.items()}

    # then
    assert statuses == dict.fromkeys(pages, expected)


@pytest.mark.parametrize("persona", ["cashier", "outsider"])
def test_non_marketers_cannot_resend(request, persona, failed_message):
    # given
    client = client_for(request.getfixturevalue(persona))
    before = Message.objects.values().get(pk=failed_message.pk)

    # when
    bulk = client.post(
        reverse("admin:messaging_message_changelist"),
        {"action": "resend_selected", "_selected_action": [failed_message.pk]},
    )
    one = client.post(
        reverse("admin:messaging_message_resend_one", args=[failed_message.pk]),
        {"_form_submitted": "on"},
    )

    # then
    assert (bulk.status_code, one.status_code) == (302, 302)
    assert bulk["Location"].startswith(reverse("admin:login"))
    assert Message.objects.values().get(pk=failed_message.pk) == before


def test_staff_who_may_only_view_the_outbox_cannot_resend(failed_message):
    # given a staff user with the view permission only
    user = factories.UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    client = client_for(user)
    before = Message.objects.values().get(pk=failed_message.pk)
    resend_url = reverse("admin:messaging_message_resend_one", args=[failed_message.pk])

    # when
    page = client.get(reverse("admin:messaging_message_change", args=[failed_message.pk]))
    listing = client.get(reverse("admin:messaging_message_changelist"))
    one = client.post(resend_url, {"_form_submitted": "on"})
    bulk = client.post(
        reverse("admin:messaging_message_changelist"),
        {"action": "resend_selected", "_selected_action": [failed_message.pk]},
    )

    # then no button, no action, and nothing changed
    assert page.status_code == 200
    assert resend_url.encode() not in page.content
    assert b"resend_selected" not in listing.content
    assert one.status_code == 403
    assert bulk.status_code == 200  # Django answers an unknown action with the list again
    assert Message.objects.values().get(pk=failed_message.pk) == before


def test_staff_who_may_only_view_templates_previews_but_cannot_test_send(member, mailoutbox):
    # given
    user = factories.UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_messagetemplate"))
    client = client_for(user)
    template = MessageTemplate.objects.get(kind="nps", channel="email", campaign=None)
    url = reverse("admin:messaging_messagetemplate_preview", args=[template.pk])

    # when
    preview = client.get(url, {"member": member.card_number})
    send = client.post(url, {"member": member.card_number, "language": "ru", "to": "me@example.ru"})

    # then
    assert preview.status_code == 200
    assert preview.context["rendered"] is not None
    assert preview.context["send_form"] is None
    assert send.status_code == 403
    assert mailoutbox == []


def test_marketer_cannot_add_change_or_delete_outbox_surveys_or_devices(
    marketer_client, failed_message
):
    # given
    before = Message.objects.values().get(pk=failed_message.pk)

    # when
    adds = [
        marketer_client.get(reverse(f"admin:messaging_{name}_add")).status_code
        for name in ("message", "survey", "pushdevice")
    ]
    change = marketer_client.post(
        reverse("admin:messaging_message_change", args=[failed_message.pk]), {"status": "sent"}
    )
    delete = marketer_client.post(
        reverse("admin:messaging_message_delete", args=[failed_message.pk]), {"post": "yes"}
    )

    # then
    assert adds == [403, 403, 403]
    assert change.status_code == 403
    assert delete.status_code == 403
    assert Message.objects.values().get(pk=failed_message.pk) == before


def test_sidebar_shows_the_messages_section_to_the_marketer_only(marketer_client):
    # given a staff user without message permissions
    support = client_for(factories.UserFactory(username="support", is_staff=True))
    links = [
        reverse(name).encode()
        for name in (
            "admin:messaging_message_changelist",
            "admin:messaging_message_delivery_by_day",
            "admin:messaging_messagetemplate_changelist",
            "admin:messaging_survey_changelist",
        )
    ]

    # when
    marketer_page = marketer_client.get(reverse("admin:index")).content
    support_page = support.get(reverse("admin:index")).content

    # then
    assert [link in marketer_page for link in links] == [True] * 4
    assert [link in support_page for link in links] == [False] * 4
