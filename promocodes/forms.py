"""Admin forms for promo code batches and code import. Validation lives here (form
clean()), never in ModelAdmin.save_model, which cannot veto a save."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal

from django import forms
from django.db.models import F
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminTextareaWidget

from members.cards import CARD_LENGTH
from members.models import Member
from members.selectors import phone_normalise
from promocodes import codes
from promocodes.models import BatchRecipient, CodeBatch, PromoCode

# A batch larger than this is almost certainly a typo (one zero too many).
MAX_BATCH_COUNT = 10_000_000
# Unknown recipients or bad import lines listed in an error; the rest are counted.
LISTED_AT_MOST = 20
# Members looked up per query while reading a pasted list of recipients.
LOOKUP_CHUNK = 5_000

FORMAT_FIELDS = ("source", "count", "alphabet", "prefix", "length", "uses_per_code", "is_personal")


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED_AT_MOST])
    rest = len(items) - LISTED_AT_MOST
    if rest > 0:
        shown += " " + ngettext("and %(count)d more", "and %(count)d more", rest) % {"count": rest}
    return shown


def _number(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def recipients_find(lines: list[str]) -> tuple[list[int], list[str]]:
    """Members named by card number or phone, one per line: (member ids, unknown lines).

    A member listed twice (say, by card and by phone) gets one code.
    """
    cards: dict[str, str] = {}
    phones: dict[str, str] = {}
    unknown: list[str] = []
    for line in lines:
        raw = "".join(line.split())
        if not raw:
            continue
        digits = raw.replace("-", "")
        if len(digits) == CARD_LENGTH and digits.isdigit():
            cards[digits] = line.strip()
        elif phone := phone_normalise(raw):
            phones[phone] = line.strip()
        else:
            unknown.append(line.strip())
    found: dict[int, None] = {}
    for field, wanted in (("card_number", cards), ("phone", phones)):
        keys = list(wanted)
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            for pk, key in Member.objects.filter(**{f"{field}__in": chunk}).values_list(
                "pk", field
            ):
                found[pk] = None
                wanted.pop(str(key), None)
    unknown += list(cards.values()) + list(phones.values())
    return list(found), unknown


def live_codes_of_format(*, prefix: str, alphabet: str, length: int) -> int:
    """Codes of other batches a guess in this format could hit: usable, in a batch that
    has not ended."""
    return PromoCode.objects.filter(
        status=PromoCode.Status.ACTIVE,
        uses__lt=F("max_uses"),
        batch__prefix=prefix,
        batch__alphabet=alphabet,
        batch__length=length,
        batch__valid_until__gt=timezone.now(),
    ).count()


class CodeBatchForm(forms.ModelForm):
    """A new batch (every field) or a batch's change page (format fields read-only)."""

    recipients = forms.CharField(
        label=_("Recipients"),
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 6}),
        help_text=_(
            "For a personal batch: card numbers or phone numbers, one per line. Each "
            "member gets one code. Leave empty to issue codes only through the API."
        ),
    )

    class Meta:
        model = CodeBatch
        fields = [
            "name",
            "campaign",
            "source",
            "count",
            "alphabet",
            "prefix",
            "length",
            "valid_from",
            "valid_until",
            "min_receipt",
            "reward_kind",
            "reward_value",
            "reward_cap",
            "gift_name",
            "uses_per_code",
            "is_personal",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recipient_ids: list[int] = []
        if self.instance.pk is not None:
            del self.fields["recipients"]  # recipients are chosen when the batch is made
        if "count" in self.fields:
            # Worked out from the list for a personal batch, zero for an imported one.
            self.fields["count"].required = False
            self.fields["count"].help_text = _(
                "How many codes to generate. A personal batch with a list makes one per "
                "listed member; an imported batch counts the codes you import."
            )

    def _value(self, name: str):
        """The cleaned value, or the saved one where the field is read-only."""
        if name in self.fields:
            return self.cleaned_data.get(name)
        return getattr(self.instance, name)

    def clean_prefix(self) -> str:
        prefix = "".join(self.cleaned_data["prefix"].split()).upper()
        error = codes.prefix_error(prefix)
        if error:
            raise forms.ValidationError(error, code="prefix_chars")
        return prefix

    def clean_min_receipt(self) -> Decimal:
        amount = self.cleaned_data["min_receipt"]
        if amount < 0:
            raise forms.ValidationError(
                _("The minimum receipt cannot be negative."), code="min_receipt_negative"
            )
        return amount

    def clean_uses_per_code(self) -> int:
        uses = self.cleaned_data["uses_per_code"]
        if uses < 1:
            raise forms.ValidationError(
                _("A code may be used at least once."), code="uses_per_code_min"
            )
        return uses

    def clean(self):
        cleaned = super().clean()
        self._clean_window()
        self._clean_reward()
        if self.instance.pk is None:
            if self._value("source") == CodeBatch.Source.IMPORTED:
                self._clean_imported()
            else:
                self._clean_generated()
        return cleaned

    def _clean_window(self) -> None:
        start, end = self._value("valid_from"), self._value("valid_until")
        if start and end and end <= start:
            self.add_error(
                "valid_until",
                forms.ValidationError(
                    _("The end of the validity window must be after its start."),
                    code="window_empty",
                ),
            )
        elif self.instance.expired_count and end and end > self.instance.valid_until:
            # The expiry task marked the codes expired for good (services.promo_codes_expire).
            self.add_error(
                "valid_until",
                forms.ValidationError(
                    _(
                        "The codes of this batch have been marked expired: a later end would "
                        "not bring them back. Make a new batch instead."
                    ),
                    code="window_after_expiry",
                ),
            )

    def _clean_reward(self) -> None:
        kind = self._value("reward_kind")
        value = self._value("reward_value")
        cap = self._value("reward_cap")
        if not kind or "reward_value" in self.errors or "reward_cap" in self.errors:
            return
        if kind == CodeBatch.Reward.GIFT:
            if not (self._value("gift_name") or "").strip():
                self.add_error(
                    "gift_name",
                    forms.ValidationError(_("Name the gift the code gives."), code="gift_name"),
                )
        elif value is None:
            self.add_error("reward_value", forms.ValidationError(_("Enter the reward value.")))
        elif kind == CodeBatch.Reward.PERCENT and not (0 < value <= 100):
            self.add_error(
                "reward_value",
                forms.ValidationError(
                    _("A percent discount is more than 0 and at most 100."),
                    code="percent_range",
                ),
            )
        elif kind == CodeBatch.Reward.FIXED and value <= 0:
            self.add_error(
                "reward_value",
                forms.ValidationError(
                    _("Enter the amount the code takes off, more than 0 roubles."),
                    code="fixed_positive",
                ),
            )
        elif kind == CodeBatch.Reward.POINTS and (value <= 0 or value != value.to_integral()):
            self.add_error(
                "reward_value",
                forms.ValidationError(
                    _("Bonus points are a whole number, more than 0."), code="points_whole"
                ),
            )
        if cap is not None:
            if kind != CodeBatch.Reward.PERCENT:
                self.add_error(
                    "reward_cap",
                    forms.ValidationError(
                        _("Only a percent discount has a cap; clear the cap."),
                        code="cap_not_percent",
                    ),
                )
            elif cap <= 0:
                self.add_error(
                    "reward_cap",
                    forms.ValidationError(
                        _("The cap is an amount in roubles above 0, or empty for no cap."),
                        code="cap_positive",
                    ),
                )
        if "reward_value" in self.fields and kind == CodeBatch.Reward.GIFT:
            self.cleaned_data["reward_value"] = Decimal(0)
        if "gift_name" in self.fields and kind != CodeBatch.Reward.GIFT:
            self.cleaned_data["gift_name"] = ""

    def _clean_imported(self) -> None:
        if self.cleaned_data.get("is_personal"):
            self.add_error(
                "is_personal",
                forms.ValidationError(
                    _("Imported codes belong to nobody: an imported batch cannot be personal."),
                    code="imported_personal",
                ),
            )
        if (self.cleaned_data.get("recipients") or "").strip():
            self.add_error(
                "recipients",
                forms.ValidationError(
                    _("Only a personal batch has recipients."), code="recipients_not_personal"
                ),
            )
        # The codes are counted as they are imported (services.codes_import).
        self.cleaned_data["count"] = 0

    def _clean_generated(self) -> None:
        cleaned = self.cleaned_data
        lines = (cleaned.get("recipients") or "").splitlines()
        has_list = any(line.strip() for line in lines)
        if has_list and not cleaned.get("is_personal"):
            self.add_error(
                "recipients",
                forms.ValidationError(
                    _("Only a personal batch has recipients: tick “personal” or clear the list."),
                    code="recipients_not_personal",
                ),
            )
            return
        if has_list:
            ids, unknown = recipients_find(lines)
            if unknown:
                self.add_error(
                    "recipients",
                    forms.ValidationError(
                        ngettext(
                            "No member has this card number or phone: %(lines)s.",
                            "No member has these card numbers or phones: %(lines)s.",
                            len(unknown),
                        )
                        % {"lines": _listed(unknown)},
                        code="recipients_unknown",
                    ),
                )
                return
            self.recipient_ids = ids
            cleaned["count"] = len(ids)
        if "count" in self.errors:
            return
        count = cleaned.get("count")
        if count is None:
            self.add_error(
                "count",
                forms.ValidationError(_("Enter how many codes to make."), code="required"),
            )
            return
        if count < 1 and not has_list:
            self.add_error(
                "count", forms.ValidationError(_("Make at least one code."), code="count_min")
            )
            return
        if count > MAX_BATCH_COUNT:
            self.add_error(
                "count",
                forms.ValidationError(
                    _("One batch makes at most %(max)s codes.") % {"max": _number(MAX_BATCH_COUNT)},
                    code="count_max",
                ),
            )
            return
        self._clean_format(count)

    def _clean_format(self, count: int) -> None:
        alphabet, length = self._value("alphabet"), self._value("length")
        prefix = self._value("prefix") or ""
        if not alphabet or not length or "prefix" in self.errors:
            return
        if len(prefix) + length > codes.MAX_CODE_LENGTH:
            # Longer codes would not fit a generated code's length limit.
            self.add_error(
                "length",
                forms.ValidationError(
                    _(
                        "The prefix and the random characters together may have at most "
                        "%(max)d characters."
                    )
                    % {"max": codes.MAX_CODE_LENGTH},
                    code="code_too_long",
                ),
            )
            return
        # A guess in this format can hit any live code of the same format, this batch's
        # and the other batches' alike.
        live = count + live_codes_of_format(prefix=prefix, alphabet=alphabet, length=length)
        probability = codes.guess_probability(alphabet=alphabet, length=length, live_codes=live)
        if probability > codes.GUESS_PROBABILITY_MAX:
            needed = codes.length_needed(alphabet=alphabet, live_codes=live)
            self.add_error(
                "length",
                forms.ValidationError(
                    _(
                        "Too easy to guess: with %(count)s live codes of this format one "
                        "random guess in "
                        "%(odds)s would hit a code (at most one in %(limit)s is allowed). "
                        "Use at least %(needed)d random characters."
                    )
                    % {
                        "count": _number(live),
                        "odds": _number(max(1, round(1 / probability))),
                        "limit": _number(round(1 / codes.GUESS_PROBABILITY_MAX)),
                        "needed": needed,
                    },
                    code="guessable",
                ),
            )

    def _save_m2m(self) -> None:
        super()._save_m2m()
        if self.recipient_ids:
            BatchRecipient.objects.bulk_create(
                [BatchRecipient(batch=self.instance, member_id=pk) for pk in self.recipient_ids],
                batch_size=LOOKUP_CHUNK,
            )


class CodesImportForm(forms.Form):
    """Codes made elsewhere, as a file (CSV, TXT, XLSX: the first column) or pasted."""

    EXTENSIONS = (".csv", ".txt", ".xlsx")

    file = forms.FileField(
        label=_("File"),
        required=False,
        widget=UnfoldAdminFileFieldWidget,
        help_text=_("CSV or TXT with one code per line, or XLSX with the codes in column A."),
    )
    text = forms.CharField(
        label=_("Or paste the codes"),
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 8}),
        help_text=_("One code per line; case, spaces and dashes do not matter."),
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), (cleaned.get("text") or "")
        if upload and text.strip():
            raise forms.ValidationError(
                _("Upload a file or paste the codes, not both."), code="both"
            )
        if upload:
            cleaned["texts"] = self._file_lines(upload)
        elif text.strip():
            cleaned["texts"] = text.splitlines()
        else:
            raise forms.ValidationError(_("Upload a file or paste the codes."), code="empty")
        cleaned["texts"] = _without_header(cleaned["texts"])
        return cleaned

    def _file_lines(self, upload) -> list[str]:
        name = upload.name.lower()
        if not name.endswith(self.EXTENSIONS):
            raise forms.ValidationError(_("Upload a CSV, TXT or XLSX file."), code="file_type")
        if name.endswith(".xlsx"):
            return _xlsx_lines(upload)
        raw = upload.read()
        try:
            content = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Russian Excel saves CSV in Windows-1251.
            content = raw.decode("cp1251", errors="replace")
        if name.endswith(".txt"):
            return content.splitlines()
        return _csv_first_column(content)


def _csv_first_column(content: str) -> list[str]:
    try:
        dialect = csv.Sniffer().sniff(content[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # one column: nothing to sniff
    return [row[0] if row else "" for row in csv.reader(io.StringIO(content), dialect)]


def _xlsx_lines(upload) -> list[str]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(upload, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise forms.ValidationError(
            _("The file is not a readable XLSX workbook."), code="file_broken"
        ) from None
    try:
        sheet = workbook.worksheets[0]
        return [
            "" if row[0] is None else str(row[0])
            for row in sheet.iter_rows(max_col=1, values_only=True)
        ]
    finally:
        workbook.close()


def _without_header(texts: list[str]) -> list[str]:
    """The first line blanked if it is a column title (ours: "Code"/"Код"), so an export
    imports back; blanked, not dropped, so the line numbers in errors match the file."""
    if texts and texts[0].strip().lstrip("\ufeff").lower() in {
        "code",
        "код",
        str(_("Code")).lower(),
    }:
        return ["", *texts[1:]]
    return texts
