"""The cashier desk: find a member, see their offers, progress and invitations, ring up
a receipt, print it, refund it, record a checked beneficiary document.

Views only clean input (forms.py) and call the members, promocodes and campaigns
services and selectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign, Grant, Offer
from campaigns.services.core import offer_reward, reward_text
from loyalty import rules
from loyalty.actors import Actor
from loyalty.cashier.forms import BeneficiaryProofForm, LookupForm, ReceiptForm, RefundForm
from loyalty.models import ProgramSettings
from members import selectors
from members.errors import BadCardNumber, MemberNotFound
from members.models import Channel, Member, Purchase, Refund
from members.services import checkout_commit, checkout_evaluate, purchase_refund
from members.services.beneficiary import beneficiary_proof_check
from members.services.checkout import breakdown_of
from promocodes import guard
from promocodes.models import PromoCode
from promocodes.selectors import member_codes_usable
from promocodes.services import Validation, promo_code_validate

DESK_PERMISSION = "loyalty.use_cashier_desk"
PROOF_PERMISSION = "members.check_beneficiary_proof"
LAST_STORE_KEY = "cashier_store_id"
RECENT_PURCHASES = 10

# Steps of the breakdown that are not a base-rate discount (those come from the
# tier, the beneficiary category or a provider, and carry their own labels).
_FIXED_STEPS = {"total", "points_spent", "paid", "points_earned"}


def desk_view(view):
    """Login first (anonymous → login page), then the desk permission (others → 403)."""
    return login_required(permission_required(DESK_PERMISSION, raise_exception=True)(view))


def _may(request, permission: str) -> None:
    """A write the desk offers needs its own permission too (the Cashier group has it)."""
    if not request.user.has_perm(permission):
        raise PermissionDenied


@dataclass(frozen=True)
class Row:
    """One line of the breakdown as the desk shows it."""

    key: str
    label: str
    amount: Decimal | int
    is_money: bool
    sign: str = ""
    detail: str = ""
    is_total: bool = False

    @property
    def percent(self) -> Decimal | None:
        """A "5.00%" detail as a number, so the template shows it localised ("5%")."""
        if not self.detail.endswith("%"):
            return None
        try:
            return Decimal(self.detail[:-1])
        except ArithmeticError:
            return None


def breakdown_rows(b: rules.Breakdown, *, reward_source: str = "") -> list[Row]:
    """Every step in the order of PRODUCT.md, with the rule that gave each discount.

    A recorded purchase's breakdown has no Reward object: pass its `reward_source`.
    """
    if b.reward is not None:
        reward_source = b.reward.source
    rows = [Row("total", _("Receipt total"), b.total, True)]
    base_steps = [s for s in b.steps if s.rule not in _FIXED_STEPS and s.rule != reward_source]
    if base_steps:
        rows.extend(
            Row(f"base-{s.rule}", s.label, s.amount, True, "−", s.detail) for s in base_steps
        )
    else:
        rows.append(Row("base-none", _("Base discount"), b.base_discount, True, "−", "0%"))
    # The reward's label names it (a promo code in its printed form); its detail is the
    # reference machines use, not shown. A points reward adds points, it takes no money.
    for s in b.steps:
        if reward_source and s.rule == reward_source:
            is_money = isinstance(s.amount, Decimal)
            rows.append(Row("reward", s.label, s.amount, is_money, "−" if is_money else "+"))
    rows += [
        Row("points-max", _("Points may pay at most"), b.points_max, False),
        Row("points-spent", _("Points spent"), b.points_spent, False, "−"),
        Row("paid", _("To pay"), b.paid, True, is_total=True),
        Row("points-earned", _("Points earned"), b.points_earned, False, "+", f"{b.earn_percent}%"),
        Row("tier-spend", _("Counts towards the tier"), b.tier_spend, True, "+"),
    ]
    return rows


@dataclass(frozen=True)
class CodeCheck:
    """What the desk says under the promo code field: the reward the typed code gives on
    this receipt, or why it is refused, or a hint; nothing for an empty field."""

    reward: rules.Reward | None = None
    discount: Decimal = Decimal(0)
    points: int = 0
    errors: tuple[str, ...] = ()
    hint: str = ""

    @property
    def state(self) -> str:
        if self.errors:
            return "refused"
        if self.reward is not None:
            return "valid"
        return "hint" if self.hint else ""

    @property
    def is_money(self) -> bool:
        return self.reward is not None and self.reward.kind in (
            rules.RewardKind.PERCENT,
            rules.RewardKind.FIXED,
        )

    @property
    def is_gift(self) -> bool:
        return self.reward is not None and self.reward.kind == rules.RewardKind.GIFT


@dataclass(frozen=True)
class PersonalCode:
    """A member's personal code as the desk lists it to pick from."""

    code: PromoCode

    @property
    def points(self) -> int:
        """The points a points reward grants (the batch stores them as a decimal)."""
        return int(self.code.batch.reward_value)


def _guesser(request) -> str:
    return f"user:{request.user.pk}"


def _checkout(*, service, guesser: str, code: str, **kwargs):
    """checkout_evaluate or checkout_commit; a typed code passes the guessing guard."""
    with guard.guessing(guesser, code, once_per_text=True):
        return service(code=code, **kwargs)


def _code_validate(*, guesser: str, text: str, **kwargs) -> Validation:
    """promo_code_validate behind the guessing guard (raises TooManyGuesses)."""
    guard.guesses_check(guesser)
    validation = promo_code_validate(text=text, **kwargs)
    if validation.refusal is not None:
        guard.guess_failed(guesser, validation.refusal, once_for=text)
    return validation


def _member_or_404(card_number: str) -> Member:
    try:
        return selectors.member_get(card_number=card_number)
    except (BadCardNumber, MemberNotFound):
        raise Http404(_("No member with this card.")) from None


def _progress_context(member: Member) -> dict:
    progress = selectors.member_progress(member)
    return {
        "progress": progress,
        "tier_by_purchases": progress.tier_basis == ProgramSettings.TierBasis.PURCHASES,
    }


@dataclass(frozen=True)
class OfferPick:
    """A campaign's personal offer, coupon or gift as the desk lists it to pick from."""

    offer: Offer

    @property
    def reference(self) -> str:
        """What the receipt form sends as `choice` to apply this offer."""
        return offer_reward(self.offer).reference

    @property
    def reward(self) -> str:
        return _reward_words(self.offer)

    @property
    def is_gift(self) -> bool:
        return self.offer.reward_kind == rules.RewardKind.GIFT


@dataclass(frozen=True)
class CounterRow:
    """An every-N-th-purchase counter: how far the member is and what the N-th gets."""

    progress: campaign_selectors.NthProgress

    @property
    def campaign(self):
        return self.progress.campaign

    @property
    def reward(self) -> str:
        return _reward_words(self.progress.campaign)

    @property
    def to_go(self) -> int:
        """Purchases still to make up to the rewarded one, itself included ("2 more
        purchases to the reward" at 3/5)."""
        return self.progress.remaining

    @property
    def is_due(self) -> bool:
        """The next purchase (the one being rung up, at the desk) gets the reward."""
        return self.progress.is_due

    @property
    def reference(self) -> str:
        """What the receipt form sends as `choice` to apply this reward."""
        return campaign_selectors.nth_reference(self.progress.campaign)


def _reward_words(source) -> str:
    """ "30%", "500 ₽", "200 points" or the gift, of an offer or a campaign."""
    return reward_text(
        kind=source.reward_kind, value=source.reward_value, gift_name=source.gift_name
    )


@dataclass(frozen=True)
class ProofStatus:
    """Whether the member's beneficiary discount applies today, and why not."""

    # "" (no category), "not_required", "valid", "expired", "missing", "inactive"
    state: str

    @classmethod
    def of(cls, member: Member, *, today) -> ProofStatus:
        return cls(selectors.beneficiary_proof_state(member, today=today))


def _campaigns_context(member: Member, *, at) -> dict:
    """The member's offers, N-th purchase counters and closed-sale invitations now."""
    counters = [CounterRow(p) for p in campaign_selectors.member_counters(member, at=at)]
    return {
        "offers": [OfferPick(o) for o in campaign_selectors.member_offers_usable(member, at=at)],
        "counters": counters,
        "counters_due": [c for c in counters if c.is_due],
        "invitations": campaign_selectors.member_invitations(member, at=at),
    }


def _member_context(member: Member, *, request, proof_form=None) -> dict:
    now = timezone.now()
    may_check_proof = request.user.has_perm(PROOF_PERMISSION)
    if proof_form is None and may_check_proof:
        proof_form = BeneficiaryProofForm(member=member)
    return {
        "member": member,
        **_progress_context(member),
        "recent_purchases": list(selectors.purchases_of_member(member)[:RECENT_PURCHASES]),
        "personal_codes": [PersonalCode(code) for code in member_codes_usable(member, at=now)],
        **_campaigns_context(member, at=now),
        "proof": ProofStatus.of(member, today=timezone.localdate(now)),
        "proof_form": proof_form if may_check_proof else None,
    }


def _form_code_check(form: ReceiptForm) -> CodeCheck:
    return CodeCheck(errors=tuple(form.errors.get("code", ())))


def _receipt_form(request, data=None, *, for_commit: bool = True) -> ReceiptForm:
    return ReceiptForm(
        data, for_commit=for_commit, initial={"store": request.session.get(LAST_STORE_KEY)}
    )


def _remember_store(request, form: ReceiptForm) -> None:
    store = form.cleaned_data.get("store")
    if store is not None and request.session.get(LAST_STORE_KEY) != store.pk:
        request.session[LAST_STORE_KEY] = store.pk


def _lookup(request, form: LookupForm):
    if form.is_valid():
        member = form.call(selectors.member_find, query=form.cleaned_data["query"])
        if member is not None:
            return redirect("cashier:member", card_number=member.card_number)
    return render(request, "cashier/home.html", {"lookup_form": form})


@desk_view
def home(request):
    """Find a member: a scanner types the card digits and Enter, or the cashier a phone."""
    if request.method == "POST":
        # POST keeps phone numbers out of access logs and the browser history.
        return _lookup(request, LookupForm(request.POST))
    return render(request, "cashier/home.html", {"lookup_form": LookupForm()})


@desk_view
def member(request, card_number: str):
    """The member panel and the receipt form; POST confirms the receipt."""
    member = _member_or_404(card_number)
    form = _receipt_form(request, request.POST or None)
    if request.method == "POST":
        _may(request, "members.add_purchase")
    if request.method == "POST" and form.is_valid():
        _remember_store(request, form)
        result = form.call(
            _checkout,
            service=checkout_commit,
            guesser=_guesser(request),
            member=member,
            store=form.cleaned_data["store"],
            receipt_number=form.cleaned_data["receipt_number"],
            total=form.cleaned_data["total"],
            points_to_spend=form.cleaned_data["points_to_spend"],
            code=form.cleaned_data["code"],
            choice=form.cleaned_data["choice"],
            actor=Actor.for_user(request.user, Channel.CASHIER),
        )
        if result is not None:
            # POST/redirect/GET: a reload or a second click shows the same receipt.
            return redirect("cashier:purchase", pk=result.purchase.pk)
    context = {
        "form": form,
        "lookup_form": LookupForm(),
        "code_check": _form_code_check(form),
        **_member_context(member, request=request),
    }
    return render(request, "cashier/member.html", context)


@desk_view
@require_POST
def beneficiary_proof(request, card_number: str):
    """The "proof checked" step: record the beneficiary document the cashier saw."""
    _may(request, PROOF_PERMISSION)
    member = _member_or_404(card_number)
    form = BeneficiaryProofForm(request.POST, member=member)
    if form.is_valid():
        checked = form.call(
            beneficiary_proof_check,
            member=member,
            category=form.cleaned_data["category"],
            document_kind=form.cleaned_data["document_kind"],
            document_number=form.cleaned_data["document_number"],
            valid_until=form.cleaned_data["valid_until"],
            actor=Actor.for_user(request.user, Channel.CASHIER),
        )
        if checked is not None:
            messages.success(
                request,
                _("Proof recorded: %(category)s until %(date)s.")
                % {
                    "category": checked.beneficiary_category.name,
                    "date": formats.date_format(
                        checked.beneficiary_verified_until, "SHORT_DATE_FORMAT"
                    ),
                },
            )
            return redirect("cashier:member", card_number=member.card_number)
    context = {
        "form": _receipt_form(request),
        "lookup_form": LookupForm(),
        "code_check": CodeCheck(),
        **_member_context(member, request=request, proof_form=form),
    }
    return render(request, "cashier/member.html", context)


@desk_view
@require_POST
def evaluate(request, card_number: str):
    """htmx: the breakdown of the receipt as typed so far; records nothing."""
    member = _member_or_404(card_number)
    form = _receipt_form(request, request.POST, for_commit=False)
    spend_max = "spend_max" in request.POST
    result = None
    # Say nothing until there is a total to work with: errors while typing distract.
    if request.POST.get("total", "").strip() and form.is_valid():
        _remember_store(request, form)
        result = form.call(
            _checkout,
            service=checkout_evaluate,
            guesser=_guesser(request),
            member=member,
            store=form.cleaned_data["store"],
            total=form.cleaned_data["total"],
            points_to_spend=None if spend_max else form.cleaned_data["points_to_spend"],
            code=form.cleaned_data["code"],
            choice=form.cleaned_data["choice"],
        )
    show_errors = bool(request.POST.get("total", "").strip())
    context = {
        "form": form,
        "member": member,
        "result": result,
        "rows": breakdown_rows(result.breakdown) if result else None,
        "spend_max": spend_max and result is not None,
        "show_errors": show_errors,
        "code_check": _evaluate_code_check(form, result) if show_errors else None,
    }
    return render(request, "cashier/_evaluate.html", context)


def _evaluate_code_check(form: ReceiptForm, result) -> CodeCheck | None:
    """What the breakdown says about the typed code; None when it tells nothing (another
    field's error stopped it), so the live check's verdict stays on the page."""
    if form.errors.get("code"):
        return _form_code_check(form)
    if not form.data.get("code", "").strip():
        return CodeCheck()
    if result is None:
        return None
    b = result.breakdown
    return CodeCheck(reward=b.reward, discount=b.code_discount, points=b.reward_points)


@desk_view
@require_POST
def code_check(request, card_number: str):
    """htmx: what the typed promo code gives on the receipt typed so far; records nothing.

    Each refused lookup counts against the desk user (promocodes.guard)."""
    member = _member_or_404(card_number)
    form = _receipt_form(request, request.POST, for_commit=False)
    form.is_valid()
    text = form.cleaned_data.get("code", "")
    if not text or form.errors.get("code"):
        check = _form_code_check(form)
    elif form.cleaned_data.get("total") is None or "store" in form.errors:
        check = CodeCheck(hint=_("Type the receipt total to check the code."))
    else:
        validation = form.call(
            _code_validate,
            guesser=_guesser(request),
            text=text,
            member=member,
            total=form.cleaned_data["total"],
            store=form.cleaned_data["store"],
        )
        if validation is None:  # too many wrong codes lately
            check = _form_code_check(form)
        elif validation.refusal is not None:
            check = CodeCheck(errors=(str(validation.refusal.message),))
        else:
            check = CodeCheck(
                reward=validation.reward, discount=validation.discount, points=validation.points
            )
    return render(request, "cashier/_code_check.html", {"code_check": check})


@desk_view
def purchase(request, pk: int):
    """The printable receipt summary: every step and the member's progress now."""
    purchase = get_object_or_404(
        Purchase.objects.select_related(
            "store", "tier", "recorded_by", "member__tier", "member__beneficiary_category"
        ),
        pk=pk,
    )
    member = purchase.member
    context = {
        "purchase": purchase,
        "member": member,
        "rows": breakdown_rows(breakdown_of(purchase), reward_source=purchase.reward_source),
        **_progress_context(member),
        "refunds": list(purchase.refunds.all()),
        "counters": [
            CounterRow(p) for p in campaign_selectors.member_counters(member, at=timezone.now())
        ],
        # What the purchase earned for later: coupons and gifts, bonus points of campaigns
        # (welcome, referral). The points of its own step-3 reward (an offer's or the N-th
        # purchase's) are already a line of the breakdown.
        "earned_offers": [
            OfferPick(o) for o in Offer.objects.filter(source_purchase=purchase).order_by("id")
        ],
        # Welcome and referral points belong to the member, not the purchase (a refund
        # keeps them): they are the grants given in the purchase's own transaction.
        "earned_points": list(
            Grant.objects.filter(
                Q(purchase=purchase)
                | Q(purchase__isnull=True, member=purchase.member, created_at=purchase.created_at),
                points__gt=0,
                rolled_back_at__isnull=True,
            )
            .exclude(offer__isnull=False)
            .exclude(campaign__kind=Campaign.Kind.NTH_PURCHASE)
            .select_related("campaign")
            .order_by("id")
        ),
    }
    return render(request, "cashier/purchase.html", context)


@desk_view
def refund(request, pk: int):
    """Refund all or part of a purchase; shows what the member gets back."""
    _may(request, "members.add_refund")
    purchase = get_object_or_404(Purchase.objects.select_related("store", "member__tier"), pk=pk)
    form = RefundForm(request.POST or None, purchase=purchase)
    if request.method == "POST" and form.is_valid():
        done = form.call(
            purchase_refund,
            purchase=purchase,
            amount=form.cleaned_data["amount"],
            actor=Actor.for_user(request.user, Channel.CASHIER),
            expected_refunded=form.cleaned_data["refunded_before"],
        )
        if done is not None:
            return redirect("cashier:refund_done", pk=done.pk)
        if form.has_error(NON_FIELD_ERRORS, code="refund_stale"):
            # Open the page again as the purchase is now, so the next submit is
            # measured against what has been refunded since.
            messages.warning(request, form.non_field_errors()[0])
            return redirect("cashier:refund", pk=purchase.pk)
    context = {"purchase": purchase, "member": purchase.member, "form": form}
    return render(request, "cashier/refund.html", context)


@desk_view
def refund_done(request, pk: int):
    refund = get_object_or_404(
        Refund.objects.select_related("purchase__store", "purchase__member__tier"), pk=pk
    )
    context = {"refund": refund, "purchase": refund.purchase, "member": refund.purchase.member}
    return render(request, "cashier/refund_done.html", context)
