"""The cashier desk: find a member, ring up a receipt, print it, refund it.

Views only clean input (forms.py) and call the members and promocodes services and
selectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from loyalty import rules
from loyalty.actors import Actor
from loyalty.cashier.forms import LookupForm, ReceiptForm, RefundForm
from loyalty.models import ProgramSettings
from members import selectors
from members.errors import BadCardNumber, MemberNotFound
from members.models import Channel, Member, Purchase, Refund
from members.services import checkout_commit, checkout_evaluate, purchase_refund
from members.services.checkout import breakdown_of
from promocodes import guard
from promocodes.models import PromoCode
from promocodes.selectors import member_codes_usable
from promocodes.services import Validation, promo_code_validate

DESK_PERMISSION = "loyalty.use_cashier_desk"
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


def _member_context(member: Member) -> dict:
    return {
        "member": member,
        **_progress_context(member),
        "recent_purchases": list(selectors.purchases_of_member(member)[:RECENT_PURCHASES]),
        "personal_codes": [
            PersonalCode(code) for code in member_codes_usable(member, at=timezone.now())
        ],
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
        **_member_context(member),
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
