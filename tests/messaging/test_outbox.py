"""Queueing: an event's message is written in the event's own transaction, once.

The business event is the real one: checkout_commit runs the purchase hooks
(settings.LOYALTY_PURCHASE_HOOKS) inside its transaction, and the receipt hook queues
the e-mail receipt. These tests commit and roll back for real (transaction=True), so a
row that survives a rollback or a send before the commit would show.
"""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import transaction

from loyalty.actors import Actor
from members.models import Channel, LedgerEntry, Member, Purchase
from members.services import checkout_commit
from messaging.models import Kind, Message, MessageTemplate
from messaging.services import (
    message_queue,
    messages_deliver,
    messages_queue_for,
    purchase_receipt_queue,
)
from tests import factories
from tests.messaging.conftest import T0, consent


class Boom(Exception):
    """Whatever made the caller's transaction fail after the checkout."""


def commit(member, store, cashier, receipt_number: str = "R-1"):
    return checkout_commit(
        member=member,
        store=store,
        receipt_number=receipt_number,
        total="1000.00",
        actor=Actor.for_user(cashier, Channel.CASHIER),
    )


@pytest.mark.django_db(transaction=True)
def test_checkout_queues_one_receipt_with_the_purchase_values(member, store, cashier):
    # given: a member with an e-mail (the factory gives one), Base tier (earns 1%)
    assert member.email

    # when
    with time_machine.travel(T0, tick=False):
        purchase = commit(member, store, cashier).purchase

    # then: exactly one pending receipt, keyed by the purchase, with its values as JSON
    message = Message.objects.get()
    assert message.kind == Kind.RECEIPT
    assert message.channel == "email"
    assert message.member_id == member.pk
    assert message.campaign_id is None
    assert message.event_key == f"purchase:{purchase.pk}"
    assert message.is_marketing is False
    assert message.status == Message.Status.PENDING
    assert message.attempts == 0
    assert message.send_after == T0
    assert message.context == {
        "receipt_number": "R-1",
        "store": "Москва, Тверская",
        "total_amount": "1000.00",
        "discount_amount": "0.00",
        "paid_amount": "1000.00",
        "points_spent": 0,
        "points_earned": 10,
        "purchase_at": "2025-03-10T12:00:00Z",
    }


@pytest.mark.django_db(transaction=True)
def test_committed_receipt_is_sent_without_marketing_consent(member, store, cashier):
    # given: no consent on any channel; the receipt is a transactional message
    assert (member.consent_email, member.consent_sms, member.consent_push) == (False, False, False)
    with time_machine.travel(T0, tick=False):
        commit(member, store, cashier)

    # when
    with time_machine.travel(T0 + dt.timedelta(seconds=5), tick=False):
        stats = messages_deliver()

    # then
    assert (stats.sent, stats.suppressed, stats.failed, stats.retried) == (1, 0, 0, 0)
    message = Message.objects.get()
    assert message.status == Message.Status.SENT
    assert message.recipient == member.email
    assert message.subject == "Ваш чек R-1"
    assert message.sent_at == T0 + dt.timedelta(seconds=5)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [member.email]
    assert email.subject == "Ваш чек R-1"
    assert email.body == message.body
    assert f"{member.first_name}, спасибо за покупку!" in email.body
    assert "Сумма: 1000,00 ₽" in email.body
    assert "Начислено баллов: 10" in email.body
    # A receipt is not advertising: no unsubscribe header or link.
    assert "List-Unsubscribe" not in email.extra_headers
    assert email.extra_headers["Message-ID"] == f"<loyalty-{message.pk}@localhost>"


@pytest.mark.django_db(transaction=True)
def test_rolled_back_checkout_leaves_no_purchase_and_no_message(member, store, cashier):
    # given
    balance = member.points_balance
    ledger = LedgerEntry.objects.count()

    queued_inside = []

    def checkout_then_fail() -> None:
        with transaction.atomic():
            commit(member, store, cashier)
            queued_inside.append(Message.objects.count())
            raise Boom()

    # when: the caller's transaction fails after the checkout and its hooks ran
    with pytest.raises(Boom):
        checkout_then_fail()

    # then: the receipt was queued inside the transaction, and is gone with it
    assert queued_inside == [1]
    assert Purchase.objects.count() == 0
    assert Message.objects.count() == 0
    assert LedgerEntry.objects.count() == ledger
    assert Member.objects.get(pk=member.pk).points_balance == balance
    stats = messages_deliver()
    assert stats.handled == 0
    assert mail.outbox == []


def test_no_receipt_for_a_member_without_an_e_mail(store, cashier, tiers):
    # given
    member = factories.MemberFactory(tier=tiers["Base"], email="")

    # when
    result = commit(member, store, cashier)

    # then: the purchase stands, nothing is queued
    assert result.purchase.pk is not None
    assert Message.objects.count() == 0


def test_no_receipt_while_the_receipt_template_is_switched_off(member, store, cashier):
    # given
    MessageTemplate.objects.filter(kind=Kind.RECEIPT, channel="email").update(is_active=False)

    # when
    result = commit(member, store, cashier)

    # then
    assert result.purchase.pk is not None
    assert Message.objects.count() == 0


def test_the_same_purchase_hook_twice_queues_one_receipt(member, store, cashier):
    # given: the checkout queued the receipt
    purchase = commit(member, store, cashier).purchase
    first = Message.objects.get()

    # when: the hook runs again for the same purchase
    again = purchase_receipt_queue(purchase=purchase, member=member)

    # then
    assert again is None
    assert list(Message.objects.values_list("pk", flat=True)) == [first.pk]


def test_message_queue_the_same_event_twice_keeps_the_first_row(member):
    # given
    with time_machine.travel(T0, tick=False):
        first = message_queue(
            member=member,
            kind=Kind.PROMO_CODE,
            channel="sms",
            event_key="batch:7",
            context={"code": "WINTER-1", "deadline": dt.date(2025, 3, 24)},
        )

    # when
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        second = message_queue(
            member=member,
            kind=Kind.PROMO_CODE,
            channel="sms",
            event_key="batch:7",
            context={"code": "OTHER-2"},
        )

    # then: None, and the first row is untouched
    assert second is None
    message = Message.objects.get()
    assert message.pk == first.pk
    assert message.context == {"code": "WINTER-1", "deadline": "2025-03-24"}
    assert message.send_after == T0
    assert message.is_marketing is True
    assert message.status == Message.Status.PENDING


def test_message_queue_tells_other_channels_kinds_and_events_apart(member):
    # given
    queued = message_queue(member=member, kind=Kind.OFFER, channel="sms", event_key="offer:1")

    # when
    others = [
        message_queue(member=member, kind=Kind.OFFER, channel="email", event_key="offer:1"),
        message_queue(member=member, kind=Kind.OFFER_EXPIRING, channel="sms", event_key="offer:1"),
        message_queue(member=member, kind=Kind.OFFER, channel="sms", event_key="offer:2"),
    ]

    # then
    assert queued is not None
    assert all(other is not None for other in others)
    assert Message.objects.count() == 4


def test_message_queue_inside_a_rolled_back_transaction_leaves_nothing(member):
    def queue_then_fail() -> None:
        with transaction.atomic():
            message_queue(member=member, kind=Kind.OFFER, channel="sms", event_key="offer:1")
            raise Boom()

    # when
    with pytest.raises(Boom):
        queue_then_fail()

    # then: and the same event can be queued afterwards
    assert Message.objects.count() == 0
    assert message_queue(member=member, kind=Kind.OFFER, channel="sms", event_key="offer:1")


def test_messages_queue_for_queues_each_member_of_the_queryset_once(tiers):
    # given: three members, one of whom already has this message
    campaign = factories.CampaignFactory()
    members = factories.MemberFactory.create_batch(3, tier=tiers["Base"])
    factories.MemberFactory(tier=tiers["Base"])  # outside the queryset
    earlier = message_queue(
        member=members[0], kind=Kind.OFFER, channel="sms", event_key=f"campaign:{campaign.pk}"
    )
    chosen = Member.objects.filter(pk__in=[m.pk for m in members])
    context = {"offer": "Скидка 30%", "amount": Decimal("300.50"), "deadline": dt.date(2025, 4, 1)}

    # when
    with time_machine.travel(T0, tick=False):
        first = messages_queue_for(
            members=chosen,
            kind=Kind.OFFER,
            channel="sms",
            event_key=f"campaign:{campaign.pk}",
            context=context,
            campaign=campaign,
        )
        second = messages_queue_for(
            members=chosen,
            kind=Kind.OFFER,
            channel="sms",
            event_key=f"campaign:{campaign.pk}",
            context=context,
            campaign=campaign,
        )

    # then
    assert (first, second) == (2, 0)
    rows = Message.objects.order_by("member_id")
    assert [row.member_id for row in rows] == [m.pk for m in members]
    assert rows[0].pk == earlier.pk
    assert rows[0].context == {}  # the earlier row is not overwritten
    for row in rows[1:]:
        assert row.kind == Kind.OFFER
        assert row.channel == "sms"
        assert row.campaign_id == campaign.pk
        assert row.event_key == f"campaign:{campaign.pk}"
        assert row.context == {"offer": "Скидка 30%", "amount": "300.50", "deadline": "2025-04-01"}
        assert row.is_marketing is True
        assert row.status == Message.Status.PENDING
        assert row.suppressed_reason == ""
        assert row.attempts == 0
        assert row.send_after == T0
        assert row.created_at == T0
        assert row.claim is None


def test_messages_queue_for_a_segment_through_a_join_queues_each_member_once(tiers, store, cashier):
    # given: a segment "members with a purchase over 100" that lists a member per purchase
    buyer = factories.MemberFactory(tier=tiers["Base"])
    for receipt in ("R-1", "R-2"):
        commit(buyer, store, cashier, receipt_number=receipt)
    segment = Member.objects.filter(purchases__total__gt=100)
    assert segment.count() == 2

    # when
    queued = messages_queue_for(members=segment, kind=Kind.OFFER, channel="sms", event_key="o:1")

    # then
    assert queued == 1
    assert list(Message.objects.filter(kind=Kind.OFFER).values_list("member_id", flat=True)) == [
        buyer.pk
    ]


def test_messages_queue_for_marks_transactional_kinds(tiers):
    # given
    members = factories.MemberFactory.create_batch(2, tier=tiers["Base"])

    # when
    queued = messages_queue_for(
        members=Member.objects.filter(pk__in=[m.pk for m in members]),
        kind=Kind.POINTS_BALANCE,
        channel="sms",
        event_key="balance:2025-03",
    )

    # then
    assert queued == 2
    assert set(Message.objects.values_list("is_marketing", flat=True)) == {False}


@pytest.mark.parametrize(
    "empty",
    [Member.objects.none, lambda: Member.objects.filter(pk__in=[])],
    ids=["none", "pk_in_empty_list"],
)
def test_messages_queue_for_an_empty_queryset_queues_nothing(member, empty):
    # given: a segment that is empty before it reaches the database
    members = empty()

    # when
    queued = messages_queue_for(members=members, kind=Kind.OFFER, channel="sms", event_key="o:1")

    # then
    assert queued == 0
    assert Message.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_messages_queue_for_in_a_rolled_back_transaction_leaves_nothing(tiers):
    # given
    members = factories.MemberFactory.create_batch(2, tier=tiers["Base"])
    for member in members:
        consent(member, "sms")

    queued_inside = []

    def queue_then_fail() -> None:
        with transaction.atomic():
            queued_inside.append(
                messages_queue_for(
                    members=Member.objects.all(), kind=Kind.OFFER, channel="sms", event_key="x"
                )
            )
            raise Boom()

    # when
    with pytest.raises(Boom):
        queue_then_fail()

    # then
    assert queued_inside == [2]
    assert Message.objects.count() == 0
    assert messages_deliver().handled == 0
