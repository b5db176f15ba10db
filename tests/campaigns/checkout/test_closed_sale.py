"""Closed sales in the checkout (PRODUCT.md mechanic 7, issue 5 acceptance 2): invited
members get the sale's rate as a step-2 candidate, only inside [start, end); a sale
the cashier names (`sale=`) refuses an uninvited member with a clear reason.

A scheduled sale whose start has come counts as open: its price follows its dates to
the instant, not the minute the beat takes to mark it active."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import selectors
from campaigns.errors import BudgetExhausted, SaleNotFound, SaleNotInvited, SaleNotOpen
from campaigns.models import Campaign, Grant, Participant
from loyalty import rules
from loyalty.actors import Actor
from loyalty.models import ProgramSettings
from members.errors import ReceiptConflict
from members.models import LedgerEntry, Purchase
from members.services import checkout_evaluate, purchase_refund
from tests import factories

pytestmark = pytest.mark.django_db

D = Decimal
ACTOR = Actor.for_task("test")
TICK = dt.timedelta(microseconds=1)


@pytest.fixture
def sale():
    now = timezone.now()
    return factories.ClosedSaleFactory(
        name="Friends & family",
        status=Campaign.Status.ACTIVE,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=1),
    )


@pytest.fixture
def gold(tiers):
    """A Gold member (10%, earns 3%) without points."""
    return factories.MemberFactory(tier=tiers["Gold"])


def sale_label(sale) -> str:
    return _("Closed sale: %(name)s") % {"name": sale.name}


def tier_line(tier, amount: str) -> tuple[str, str, Decimal, str]:
    label = _("Tier discount: %(tier)s") % {"tier": tier.name}
    return ("tier", label, D(amount), f"{tier.discount_percent}%")


def invite(sale, member, *, is_holdout=False):
    return Participant.objects.create(
        campaign=sale, member=member, is_holdout=is_holdout, created_at=timezone.now()
    )


def base_steps(breakdown) -> list[tuple[str, str, Decimal, str]]:
    """The step-2 lines: everything between the total and the money paid, but step 3."""
    return [
        (s.rule, s.label, s.amount, s.detail)
        for s in breakdown.steps
        if s.rule not in {"total", "paid", "points_earned", "points_spent"}
    ]


def evaluate(member, store, **kwargs):
    return checkout_evaluate(member=member, store=store, total="1000.00", **kwargs)


def nothing_recorded(member) -> bool:
    return (
        not Purchase.objects.exists()
        and not LedgerEntry.objects.filter(member=member).exists()
        and not Grant.objects.exists()
    )


def test_invited_member_gets_the_sale_rate_over_the_tier(sale, gold, store, buy):
    # given: Gold is 10%, the sale 25%
    invite(sale, gold)

    # when
    evaluated = evaluate(gold, store)
    committed = buy(gold, "1000.00", sale=sale.pk)

    # then: the sale is the base rate, named on the evaluation and the receipt
    line = (f"sale-{sale.pk}", sale_label(sale), D("250.00"), "25.00%")
    assert base_steps(evaluated.breakdown) == [line]
    b = committed.breakdown
    assert (b.base_rate, b.base_source, b.base_discount, b.paid) == (
        D("25.00"),
        f"sale-{sale.pk}",
        D("250.00"),
        D("750.00"),
    )
    purchase = committed.purchase
    assert purchase.base_source == f"sale-{sale.pk}"
    assert {
        "rule": f"sale-{sale.pk}",
        "label": sale_label(sale),
        "amount": "250.00",
        "detail": "25.00%",
    } in purchase.steps
    assert list(Grant.objects.values_list("campaign", "member", "purchase", "discount")) == [
        (sale.pk, gold.pk, purchase.pk, D("250.00"))
    ]
    assert Grant.objects.get(purchase=purchase).cost == D("250.00")


def test_sale_rate_applies_only_inside_its_window(sale, gold, store):
    # given
    invite(sale, gold)
    tier = tier_line(gold.tier, "100.00")
    rate = (f"sale-{sale.pk}", sale_label(sale), D("250.00"), "25.00%")

    # when: the instant before the start, the start, the instant before the end, the end
    lines = [
        base_steps(evaluate(gold, store, at=at).breakdown)
        for at in (sale.starts_at - TICK, sale.starts_at, sale.ends_at - TICK, sale.ends_at)
    ]

    # then
    assert lines == [[tier], [rate], [rate], [tier]]


def test_named_sale_outside_its_window_is_refused(sale, gold, store):
    # given
    invite(sale, gold)

    # when / then
    for at in (sale.starts_at - TICK, sale.ends_at):
        with pytest.raises(SaleNotOpen) as refused:
            evaluate(gold, store, sale=sale.pk, at=at)
        assert refused.value.code == "sale_not_open"


def test_uninvited_member_naming_the_sale_is_refused_and_nothing_changes(sale, gold, store, buy):
    # given: someone else is invited
    invite(sale, factories.MemberFactory())

    # when
    with pytest.raises(SaleNotInvited) as refused:
        buy(gold, "1000.00", sale=sale.pk)

    # then
    assert refused.value.code == "sale_not_invited"
    assert str(refused.value) == _(
        "This member is not invited to the closed sale: only invited members get its price."
    )
    assert nothing_recorded(gold)
    assert Campaign.objects.get(pk=sale.pk).spent == D("0.00")


def test_uninvited_member_without_the_sale_named_gets_no_sale_line(sale, gold, store, buy):
    # given: the sale exists, the member is not invited
    invite(sale, factories.MemberFactory())

    # when
    result = buy(gold, "1000.00")

    # then
    assert base_steps(result.breakdown) == [tier_line(gold.tier, "100.00")]
    assert not Grant.objects.exists()


def test_held_out_member_gets_no_sale_and_is_refused_when_naming_it(sale, gold, store):
    # given
    invite(sale, gold, is_holdout=True)

    # when
    plain = evaluate(gold, store)

    # then
    assert plain.breakdown.base_source == "tier"
    with pytest.raises(SaleNotInvited):
        evaluate(gold, store, sale=sale.pk)


@pytest.mark.parametrize("named", ["999999", "abc", "", True])
def test_unknown_sale_is_not_found(named, sale, gold, store):
    # given
    invite(sale, gold)

    # when / then
    with pytest.raises(SaleNotFound):
        evaluate(gold, store, sale=named)


def test_a_campaign_of_another_kind_or_a_draft_sale_is_not_found(gold, store):
    # given
    offer = factories.OfferCampaignFactory()
    draft = factories.ClosedSaleFactory(status=Campaign.Status.DRAFT)
    invite(draft, gold)

    # when / then
    for named in (offer.pk, draft.pk):
        with pytest.raises(SaleNotFound):
            evaluate(gold, store, sale=named)


def test_scheduled_sale_opens_at_its_start_without_waiting_for_the_beat(gold, store):
    # given: the beat has not marked it active yet
    sale = factories.ClosedSaleFactory()
    invite(sale, gold)

    # when
    result = evaluate(gold, store, sale=sale.pk, at=sale.starts_at)

    # then
    assert result.breakdown.base_source == f"sale-{sale.pk}"


def test_paused_sale_gives_nothing_and_is_refused_when_named(sale, gold, store):
    # given
    invite(sale, gold)
    Campaign.objects.filter(pk=sale.pk).update(status=Campaign.Status.PAUSED)

    # when
    plain = evaluate(gold, store)

    # then
    assert plain.breakdown.base_source == "tier"
    with pytest.raises(SaleNotOpen):
        evaluate(gold, store, sale=sale.pk)


def test_sale_whose_budget_cannot_pay_the_receipt_is_left_out(sale, gold, store):
    # given: 200 ₽ left, the sale would give 250
    invite(sale, gold)
    Campaign.objects.filter(pk=sale.pk).update(budget=D("200"))

    # when
    plain = evaluate(gold, store)
    small = checkout_evaluate(member=gold, store=store, total="800.00")

    # then: a smaller receipt still fits (200 = 25% of 800)
    assert plain.breakdown.base_source == "tier"
    assert small.breakdown.base_source == f"sale-{sale.pk}"
    with pytest.raises(BudgetExhausted):
        evaluate(gold, store, sale=sale.pk)


def test_summed_base_rate_records_the_sales_own_part(sale, gold, store, buy, program):
    # given: "sum, capped at 30%": 10% + 25% = 35% → 30%
    ProgramSettings.objects.filter(pk=program.pk).update(
        stacking_policy=rules.StackingPolicy.SUM_CAPPED, stacking_cap_percent=D("30")
    )
    invite(sale, gold)

    # when
    result = buy(gold, "1000.00")

    # then
    assert result.purchase.base_source == f"tier+sale-{sale.pk}"
    assert result.breakdown.base_discount == D("300.00")
    assert Grant.objects.get().discount == D("250.00")


def test_full_refund_gives_the_sales_discount_back_to_its_budget(sale, gold, buy):
    # given
    invite(sale, gold)
    purchase = buy(gold, "1000.00").purchase

    # when
    purchase_refund(purchase=purchase, actor=ACTOR)

    # then
    assert Campaign.objects.get(pk=sale.pk).spent == D("0.00")
    assert Grant.objects.get().rolled_back_at is not None


def test_replay_with_the_same_sale_returns_the_purchase_and_another_conflicts(sale, gold, buy):
    # given
    invite(sale, gold)
    first = buy(gold, "1000.00", sale=sale.pk, receipt="R-1")

    # when
    again = buy(gold, "1000.00", sale=sale.pk, receipt="R-1")

    # then
    assert (again.replayed, again.purchase.pk) == (True, first.purchase.pk)
    with pytest.raises(ReceiptConflict):
        buy(gold, "1000.00", receipt="R-1")
    assert Grant.objects.count() == 1


def test_closed_sale_results(sale, store, buy, tiers, django_assert_num_queries):
    # given: three invited Gold members and one held out
    a, b, c, held = (factories.MemberFactory(tier=tiers["Gold"]) for _ in range(4))
    for member in (a, b, c):
        invite(sale, member)
    invite(sale, held, is_holdout=True)
    outsider = factories.MemberFactory(tier=tiers["Gold"])
    # a buys twice, b once and returns part, c once and returns everything
    buy(a, "1000.00")  # 250 off, 750 paid
    buy(a, "2000.00")  # 500 off, 1,500 paid
    b_purchase = buy(b, "400.00").purchase  # 100 off, 300 paid
    purchase_refund(purchase=b_purchase, amount="100.00", actor=ACTOR)
    c_purchase = buy(c, "1000.00").purchase
    purchase_refund(purchase=c_purchase, actor=ACTOR)
    buy(held, "1000.00")
    buy(outsider, "1000.00")

    # when
    with django_assert_num_queries(2):
        results = selectors.closed_sale_results(sale)

    # then
    assert results == selectors.SaleResults(
        invited=3,
        held_out=1,
        came=2,
        purchases=3,
        revenue=D("2450.00"),
        discount=D("850.00"),
    )


def test_results_of_a_sale_nobody_came_to(sale):
    # when
    results = selectors.closed_sale_results(sale)

    # then
    assert results == selectors.SaleResults(0, 0, 0, 0, D("0.00"), D("0.00"))


def test_member_invitations(gold, django_assert_num_queries):
    # given
    now = timezone.now()
    upcoming = factories.ClosedSaleFactory(name="Upcoming")
    open_now = factories.ClosedSaleFactory(
        name="Open now",
        status=Campaign.Status.ACTIVE,
        starts_at=now - dt.timedelta(hours=2),
        ends_at=now + dt.timedelta(hours=2),
    )
    ended = factories.ClosedSaleFactory(
        name="Ended",
        status=Campaign.Status.ACTIVE,
        starts_at=now - dt.timedelta(days=2),
        ends_at=now - dt.timedelta(days=1),
    )
    held = factories.ClosedSaleFactory(name="Held out")
    paused = factories.ClosedSaleFactory(name="Paused", status=Campaign.Status.PAUSED)
    not_invited = factories.ClosedSaleFactory(name="Not invited")
    for campaign in (upcoming, open_now, ended, paused):
        invite(campaign, gold)
    invite(held, gold, is_holdout=True)
    invite(not_invited, factories.MemberFactory())

    # when
    with django_assert_num_queries(1):
        invitations = [
            (i.campaign.name, i.is_open) for i in selectors.member_invitations(gold, at=now)
        ]

    # then
    assert invitations == [("Open now", True), ("Upcoming", False)]
