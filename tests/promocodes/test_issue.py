"""Issuing a personal code to a member: idempotent per member and per request_id."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.actors import Actor
from members.services import checkout_evaluate
from promocodes import codes, errors
from promocodes.models import PromoCode
from promocodes.services import promo_code_issue
from tests import factories

ACTOR = Actor.for_task("test")


@pytest.fixture
def personal_batch():
    return factories.CodeBatchFactory(is_personal=True, prefix="VP7", uses_per_code=2, count=100)


def codes_state() -> list[tuple]:
    return list(
        PromoCode.objects.order_by("pk").values_list("pk", "batch_id", "member_id", "request_id")
    )


def test_issue_makes_a_personal_code(personal_batch, member):
    # when
    code, created = promo_code_issue(
        batch=personal_batch, member=member, request_id=" req-1 ", actor=ACTOR
    )

    # then a code of the batch's format, bound to the member, with the batch's uses
    assert created is True
    code.refresh_from_db()
    assert code.batch == personal_batch
    assert code.member == member
    assert code.max_uses == 2
    assert code.uses == 0
    assert code.status == PromoCode.Status.ACTIVE
    assert code.request_id == "req-1"
    assert code.code.startswith("VP7")
    assert len(code.code) == len("VP7") + codes.DEFAULT_LENGTH + 1
    assert codes.has_valid_check(code.code)
    assert PromoCode.objects.count() == 1


@pytest.mark.parametrize("second_request_id", ["req-1", "req-2", ""])
def test_issue_is_idempotent_per_member(second_request_id, personal_batch, member):
    # given a code issued to the member
    first, _ = promo_code_issue(
        batch=personal_batch, member=member, request_id="req-1", actor=ACTOR
    )
    before = codes_state()

    # when it is asked for again, with the same request_id or another
    again, created = promo_code_issue(
        batch=personal_batch, member=member, request_id=second_request_id, actor=ACTOR
    )

    # then the same code comes back and nothing is created
    assert created is False
    assert again.pk == first.pk
    assert again.code == first.code
    assert codes_state() == before


def test_a_request_id_used_for_another_member_is_a_conflict(personal_batch, member, tiers):
    # given a code issued to one member under req-1
    promo_code_issue(batch=personal_batch, member=member, request_id="req-1", actor=ACTOR)
    other = factories.MemberFactory(tier=tiers["Base"])
    before = codes_state()

    # when req-1 is used to issue to another member
    with pytest.raises(errors.RequestIdConflict) as caught:
        promo_code_issue(batch=personal_batch, member=other, request_id="req-1", actor=ACTOR)

    # then it is refused and nothing is created
    assert caught.value.code == "request_id_conflict"
    assert caught.value.status == 409
    assert codes_state() == before
    assert not PromoCode.objects.filter(member=other).exists()


def test_the_same_request_id_in_another_batch_is_another_request(personal_batch, member, tiers):
    # given req-1 used in one batch
    promo_code_issue(batch=personal_batch, member=member, request_id="req-1", actor=ACTOR)
    other_batch = factories.CodeBatchFactory(is_personal=True)
    other = factories.MemberFactory(tier=tiers["Base"])

    # when req-1 issues from another batch to another member
    code, created = promo_code_issue(
        batch=other_batch, member=other, request_id="req-1", actor=ACTOR
    )

    # then it is a new code
    assert created is True
    assert (code.batch, code.member) == (other_batch, other)


def test_codes_without_request_id_for_two_members(personal_batch, member, tiers):
    # given / when two members get codes without a request_id
    other = factories.MemberFactory(tier=tiers["Base"])
    a, _ = promo_code_issue(batch=personal_batch, member=member, actor=ACTOR)
    b, _ = promo_code_issue(batch=personal_batch, member=other, actor=ACTOR)

    # then they are two different codes
    assert a.code != b.code
    assert PromoCode.objects.filter(batch=personal_batch, request_id="").count() == 2


def _not_personal():
    return factories.CodeBatchFactory(is_personal=False), errors.BatchNotPersonal


def _inactive():
    return factories.CodeBatchFactory(is_personal=True, is_active=False), errors.CodeInactive


def _expired():
    now = timezone.now()
    batch = factories.CodeBatchFactory(
        is_personal=True,
        valid_from=now - dt.timedelta(days=10),
        valid_until=now - dt.timedelta(seconds=1),
    )
    return batch, errors.CodeExpired


@pytest.mark.parametrize(
    ("make", "code"),
    [(_not_personal, "batch_not_personal"), (_inactive, "inactive"), (_expired, "expired")],
)
def test_a_batch_that_cannot_issue_creates_nothing(make, code, member):
    # given
    batch, error = make()
    before = codes_state()

    # when
    with pytest.raises(error) as caught:
        promo_code_issue(batch=batch, member=member, request_id="req-1", actor=ACTOR)

    # then
    assert caught.value.code == code
    assert codes_state() == before == []


def test_a_batch_not_yet_valid_issues_in_advance(member):
    # given a personal batch valid from tomorrow
    now = timezone.now()
    batch = factories.CodeBatchFactory(
        is_personal=True,
        valid_from=now + dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=5),
    )

    # when / then
    code, created = promo_code_issue(batch=batch, member=member, actor=ACTOR)
    assert created is True
    assert code.member == member


def test_a_random_collision_is_drawn_again(personal_batch, member, monkeypatch):
    # given an existing code, and a generator whose first draw repeats it
    taken = factories.PromoCodeFactory(batch=factories.CodeBatchFactory(prefix="VP7"))
    fresh = factories.promo_code_text(personal_batch)
    draws = iter([taken.code.encode(), fresh.encode()])
    monkeypatch.setattr(codes, "codes_generate", lambda fmt, count, **kw: next(draws))

    # when
    code, created = promo_code_issue(batch=personal_batch, member=member, actor=ACTOR)

    # then the collision was skipped and the second draw issued
    assert created is True
    assert code.code == fresh
    assert PromoCode.objects.filter(batch=personal_batch).count() == 1


def test_an_issued_code_applies_at_the_checkout_without_typing(personal_batch, member, store):
    # given a code issued to the member
    code, _ = promo_code_issue(batch=personal_batch, member=member, actor=ACTOR)

    # when a receipt is evaluated without a typed code
    result = checkout_evaluate(member=member, store=store, total="1000.00")

    # then the personal code applies: 10 % of 1,000
    assert result.breakdown.reward.reference == code.code
    assert result.breakdown.code_discount == Decimal("100.00")


def test_a_batch_for_a_list_issues_only_to_its_recipients(member, tiers):
    # given a personal batch made for one listed member
    from promocodes.models import BatchRecipient

    batch = factories.CodeBatchFactory(is_personal=True, count=1)
    listed = factories.MemberFactory(tier=tiers["Base"])
    BatchRecipient.objects.create(batch=batch, member=listed)

    # when a member not on the list asks for a code
    with pytest.raises(errors.NotRecipient) as caught:
        promo_code_issue(batch=batch, member=member, request_id="req-x", actor=ACTOR)

    # then it is refused and nothing is made; the listed member still gets theirs
    assert caught.value.code == "not_recipient"
    assert caught.value.status == 403
    assert codes_state() == []
    code, created = promo_code_issue(batch=batch, member=listed, actor=ACTOR)
    assert created
    assert code.member == listed


def test_a_batch_without_a_list_issues_at_most_its_count(member, tiers):
    # given an on-request personal batch of 2 codes, both issued
    batch = factories.CodeBatchFactory(is_personal=True, count=2)
    for _ in range(2):
        promo_code_issue(batch=batch, member=factories.MemberFactory(), actor=ACTOR)
    before = codes_state()

    # when a third member asks
    with pytest.raises(errors.BatchFull) as caught:
        promo_code_issue(batch=batch, member=member, request_id="req-3", actor=ACTOR)

    # then it is refused with 409 batch_full and nothing is made
    assert caught.value.code == "batch_full"
    assert caught.value.status == 409
    assert codes_state() == before
    assert len(before) == 2
