"""Referral end to end (PRODUCT.md mechanic 11): a member's code; a friend who enrols
with it and makes a first purchase gets points, and so does the inviter, exactly once.
Self-referral, existing members and unknown codes are refused."""

import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from campaigns.models import Grant
from campaigns.services import core, events
from members.errors import ReferralCodeUnknown, ReferralNotNew, ReferralSelf
from members.models import ConsentRecord, LedgerEntry, Member, Purchase
from members.services import member_enroll
from members.services.referrals import (
    REFERRAL_ALPHABET,
    member_referral_code,
    member_referral_set,
)
from tests import factories
from tests.api.conftest import client_with_key
from tests.campaigns.events.conftest import ACTOR, buy, live

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/members/"


@pytest.fixture
def inviter(tiers):
    return factories.MemberFactory(tier=tiers["Base"])


def enrol_friend(code: str, *, phone: str = "+79990000001") -> Member:
    return member_enroll(phone=phone, first_name="Пётр", referral_code=code, actor=ACTOR)


def grants(campaign) -> list[tuple]:
    return sorted(
        Grant.objects.filter(campaign=campaign).values_list("member_id", "event_key", "points")
    )


def stored_name(name: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return translation.gettext("Campaign «%(name)s»") % {"name": name}


def balance(member) -> int:
    return Member.objects.values_list("points_balance", flat=True).get(pk=member.pk)


# --- The code ---------------------------------------------------------------------------


def test_referral_code_is_made_on_first_use_and_kept(inviter):
    # when
    code = member_referral_code(inviter)
    again = member_referral_code(Member.objects.get(pk=inviter.pk))

    # then
    assert len(code) == 8
    assert set(code) <= set(REFERRAL_ALPHABET)
    assert again == code
    assert Member.objects.get(pk=inviter.pk).referral_code == code


def test_a_taken_code_is_drawn_again(inviter, tiers, monkeypatch):
    # given the first draw collides with another member's code
    factories.MemberFactory(referral_code="AAAAAAAA")
    draws = iter(["AAAAAAAA", "BBBBBBBB"])
    monkeypatch.setattr("members.services.referrals._referral_code_new", lambda: next(draws))

    # when
    code = member_referral_code(inviter)

    # then
    assert code == "BBBBBBBB"


# --- Enrolling with a code --------------------------------------------------------------


def test_enrolling_with_a_code_links_the_inviter(inviter):
    # given the code as a person types it
    code = member_referral_code(inviter)
    typed = f" {code[:4].lower()}-{code[4:]} "

    # when
    friend = enrol_friend(typed)

    # then
    assert Member.objects.get(pk=friend.pk).referred_by == inviter


def test_enrolling_through_the_api_with_a_code(inviter, partner_key):
    # given
    code = member_referral_code(inviter)
    api = client_with_key(partner_key)

    # when
    response = api.post(
        MEMBERS,
        {"phone": "8 999 000-00-01", "first_name": "Пётр", "referral_code": code},
        format="json",
    )

    # then
    assert response.status_code == 201, response.json()
    friend = Member.objects.get(phone="+79990000001")
    assert friend.referred_by == inviter
    assert response.json()["referral_code"] == friend.referral_code
    assert len(friend.referral_code) == 8
    assert friend.referral_code != code


def test_api_refuses_an_unknown_code_and_enrols_nobody(inviter, partner_key):
    # given
    member_referral_code(inviter)
    api = client_with_key(partner_key)
    before = (Member.objects.count(), ConsentRecord.objects.count())

    # when
    response = api.post(
        MEMBERS,
        {
            "phone": "8 999 000-00-01",
            "first_name": "Пётр",
            "referral_code": "ZZZZ-ZZZZ",
            "consents": {"email": True},
        },
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {
        "code": "referral_code_unknown",
        "detail": str(ReferralCodeUnknown.default_message),
    }
    assert (Member.objects.count(), ConsentRecord.objects.count()) == before


def test_api_member_view_shows_the_code(inviter, partner_key):
    # when
    api = client_with_key(partner_key)
    first = api.get(f"{MEMBERS}{inviter.card_number}/").json()
    second = api.get(f"{MEMBERS}{inviter.card_number}/").json()

    # then
    inviter.refresh_from_db()
    assert first["referral_code"] == second["referral_code"] == inviter.referral_code


def test_unknown_code_enrols_nobody(inviter):
    # given
    before = Member.objects.count()

    # when / then
    with pytest.raises(ReferralCodeUnknown):
        enrol_friend("NOSUCH22")
    assert Member.objects.count() == before


def test_own_code_is_refused(inviter):
    # given
    code = member_referral_code(inviter)

    # when / then
    with pytest.raises(ReferralSelf):
        member_referral_set(member=inviter, code=code, actor=ACTOR)
    assert Member.objects.get(pk=inviter.pk).referred_by is None


def test_the_database_refuses_self_referral(inviter):
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.filter(pk=inviter.pk).update(referred_by=inviter)


def test_a_member_who_has_bought_is_refused(inviter, tiers, store):
    # given a member who joined after the inviter and has bought already
    existing = factories.MemberFactory(tier=tiers["Base"])
    buy(existing, store, "1000.00")
    code = member_referral_code(inviter)

    # when / then
    with pytest.raises(ReferralNotNew):
        member_referral_set(member=existing, code=code, actor=ACTOR)
    assert Member.objects.get(pk=existing.pk).referred_by is None


def test_a_member_already_invited_is_refused(inviter, tiers):
    # given
    other = factories.MemberFactory(tier=tiers["Base"])
    friend = enrol_friend(member_referral_code(inviter))

    # when / then
    with pytest.raises(ReferralNotNew):
        member_referral_set(member=friend, code=member_referral_code(other), actor=ACTOR)
    assert Member.objects.get(pk=friend.pk).referred_by == inviter


def test_a_member_who_joined_before_the_inviter_is_refused(inviter, tiers):
    # given a newer member's code: links always point to an earlier member (no cycles)
    newer = factories.MemberFactory(tier=tiers["Base"])

    # when / then
    with pytest.raises(ReferralNotNew):
        member_referral_set(member=inviter, code=member_referral_code(newer), actor=ACTOR)
    assert Member.objects.get(pk=inviter.pk).referred_by is None


# --- Rewards on the first purchase ------------------------------------------------------


def test_first_purchase_gives_both_sides_points_exactly_once(referral_campaign, inviter, store):
    # given a friend enrolled with the inviter's code
    friend = enrol_friend(member_referral_code(inviter))

    # when the friend buys (1,000 earns 10 points), again, and the desk retries a receipt
    buy(friend, store, "1000.00", receipt="F-1")
    buy(friend, store, "1000.00", receipt="F-2")
    replay = buy(friend, store, "1000.00", receipt="F-1")

    # then
    assert replay.replayed is True
    assert grants(referral_campaign) == sorted(
        [(friend.pk, "referral-friend", 300), (inviter.pk, f"referral-{friend.pk}", 500)]
    )
    assert balance(friend) == 10 + 300 + 10
    assert balance(inviter) == 500
    assert list(
        LedgerEntry.objects.filter(member=inviter).values_list("kind", "amount", "reason")
    ) == [("grant", 500, stored_name("Приведи друга"))]
    assert sum(g.cost for g in Grant.objects.filter(campaign=referral_campaign)) == Decimal(
        "800.00"
    )


def test_a_member_without_an_inviter_gets_nothing(referral_campaign, member, store):
    # when
    buy(member, store, "1000.00")

    # then
    assert grants(referral_campaign) == []


def test_a_budget_that_cannot_pay_both_gives_neither(referral_campaign, inviter, store):
    # given room for the friend's 300 but not the inviter's 500 too
    referral_campaign.budget = Decimal("700")
    referral_campaign.save(update_fields=["budget"])
    friend = enrol_friend(member_referral_code(inviter))

    # when
    result = buy(friend, store, "1000.00")

    # then the purchase stands, nobody got referral points
    assert result.purchase.pk is not None
    assert grants(referral_campaign) == []
    assert (balance(friend), balance(inviter)) == (10, 0)
    referral_campaign.refresh_from_db()
    assert referral_campaign.spent == Decimal("0")


def test_held_out_friend_gets_nothing_and_neither_does_the_inviter(
    referral_campaign, inviter, store
):
    # given
    referral_campaign.holdout_percent = Decimal("50")
    referral_campaign.save(update_fields=["holdout_percent"])
    code = member_referral_code(inviter)
    friend = None
    for n in range(1, 200):
        candidate = enrol_friend(code, phone=f"+7999000{n:04d}")
        if core.is_holdout(referral_campaign, candidate.pk):
            friend = candidate
            break
    assert friend is not None

    # when
    buy(friend, store, "1000.00")

    # then
    assert grants(referral_campaign) == []
    assert balance(inviter) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_purchases_reward_exactly_once_each(tiers, store):
    # given an inviter with two friends; one friend sends two receipts at once
    campaign = live(
        name="Приведи друга",
        kind="referral",
        reward_kind="points",
        reward_value=Decimal("300"),
        referrer_points=500,
    )
    inviter = factories.MemberFactory(tier=tiers["Base"])
    code = member_referral_code(inviter)
    ann = enrol_friend(code, phone="+79990000001")
    bob = enrol_friend(code, phone="+79990000002")
    jobs = [(ann, "A-1"), (ann, "A-2"), (bob, "B-1")]
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(friend, receipt):
        try:
            barrier.wait()
            buy(friend, store, "1000.00", receipt=receipt)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert errors == []
    assert grants(campaign) == sorted(
        [
            (ann.pk, "referral-friend", 300),
            (bob.pk, "referral-friend", 300),
            (inviter.pk, f"referral-{ann.pk}", 500),
            (inviter.pk, f"referral-{bob.pk}", 500),
        ]
    )
    assert (balance(ann), balance(bob), balance(inviter)) == (320, 310, 1000)


@pytest.mark.django_db(transaction=True)
def test_a_busy_inviter_is_rewarded_right_after_the_friends_checkout(tiers, store):
    # given the inviter's row is locked by another transaction (e.g. their own checkout)
    campaign = live(
        name="Приведи друга",
        kind="referral",
        reward_kind="points",
        reward_value=Decimal("300"),
        referrer_points=500,
    )
    inviter = factories.MemberFactory(tier=tiers["Base"])
    friend = enrol_friend(member_referral_code(inviter))
    locked = threading.Event()
    seen_while_locked, errors = [], []

    def hold_the_inviter():
        try:
            with transaction.atomic():
                Member.objects.select_for_update().get(pk=inviter.pk)
                locked.set()
                for _ in range(2_000):  # until the friend's purchase is committed
                    if Purchase.objects.filter(member=friend).exists():
                        break
                    time.sleep(0.005)
                seen_while_locked.append(
                    (
                        Purchase.objects.filter(member=friend).exists(),
                        Grant.objects.filter(campaign=campaign).count(),
                    )
                )
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_inviter)
    holder.start()
    assert locked.wait(10)

    # when the friend's first purchase is recorded meanwhile
    result = buy(friend, store, "1000.00")
    holder.join()

    # then the checkout did not wait for the inviter: the purchase committed without the
    # points, which both sides got once the inviter's row was free
    assert errors == []
    assert seen_while_locked == [(True, 0)]
    assert result.purchase.pk is not None
    assert grants(campaign) == sorted(
        [(friend.pk, "referral-friend", 300), (inviter.pk, f"referral-{friend.pk}", 500)]
    )
    assert (balance(friend), balance(inviter)) == (310, 500)


def test_the_sweep_pays_a_referral_whose_after_commit_run_was_lost(
    referral_campaign, inviter, store, monkeypatch
):
    # given: the friend's first purchase left the referral to an after-commit run (the
    # inviter was busy) and the process died before it ran
    friend = enrol_friend(member_referral_code(inviter))
    monkeypatch.setattr(events, "_referral_apply", lambda *args, **kwargs: None)
    buy(friend, store, "1000.00", receipt="F-1")
    monkeypatch.undo()
    assert grants(referral_campaign) == []

    # when the beat's sweep runs, twice
    looked_at = events.referral_rewards_sweep()
    again = events.referral_rewards_sweep()

    # then both sides are paid, once
    assert (looked_at, again) == (1, 0)
    assert grants(referral_campaign) == sorted(
        [(friend.pk, "referral-friend", 300), (inviter.pk, f"referral-{friend.pk}", 500)]
    )
    assert balance(inviter) == 500


def test_the_sweep_leaves_paid_and_old_referrals_alone(referral_campaign, inviter, store):
    # given: a friend paid at the checkout
    friend = enrol_friend(member_referral_code(inviter))
    buy(friend, store, "1000.00", receipt="F-1")
    before = grants(referral_campaign)

    # when
    looked_at = events.referral_rewards_sweep()

    # then
    assert looked_at == 0
    assert grants(referral_campaign) == before


def test_an_enrolled_member_has_a_referral_code_at_once():
    # when
    member = member_enroll(phone="+79990000002", first_name="Ольга", actor=ACTOR)

    # then: stored by the enrolment, so reading the member later writes nothing
    stored = Member.objects.values_list("referral_code", flat=True).get(pk=member.pk)
    assert stored == member.referral_code
    assert len(stored) == 8
    assert set(stored) <= set(REFERRAL_ALPHABET)
