"""Exporting a batch's codes without holding them in memory: rows come from a
server-side cursor in chunks and leave as they are written (CSV as a stream; XLSX
through openpyxl's write-only workbook into a temporary file)."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator

from django.utils.translation import gettext as _

from promocodes import codes
from promocodes.models import CodeBatch, PromoCode

CHUNK = 10_000
XLSX_MAX_ROWS = 1_048_575  # an Excel sheet's 1,048,576 rows, less the header


def header() -> list[str]:
    return [_("Code"), _("Card number"), _("Used"), _("Uses allowed"), _("Status")]


def batch_rows(batch: CodeBatch) -> Iterator[list]:
    """Every code of the batch as printed (ABCD-EFGH-JKL), in id order."""
    statuses = dict(PromoCode.Status.choices)
    rows = (
        PromoCode.objects.filter(batch=batch)
        .order_by("id")
        .values_list("code", "member__card_number", "uses", "max_uses", "status")
        .iterator(chunk_size=CHUNK)
    )
    for code, card, uses, max_uses, status in rows:
        yield [codes.display(code), card or "", uses, max_uses, str(statuses[status])]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_stream(batch: CodeBatch) -> Iterator[str]:
    """CSV text in pieces of about CHUNK rows (UTF-8 BOM first, so Excel reads Cyrillic)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header())
    piece: list[str] = []
    for row in batch_rows(batch):
        piece.append(writer.writerow(row))
        if len(piece) >= CHUNK:
            yield "".join(piece)
            piece = []
    if piece:
        yield "".join(piece)


def xlsx_file(batch: CodeBatch) -> tempfile.SpooledTemporaryFile:
    """The batch as an XLSX workbook in a temporary file, positioned at its start."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Codes")[:31])
    sheet.append(header())
    for row in batch_rows(batch):
        sheet.append(row)
    # Handed to the caller open (a FileResponse closes it once sent).
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    workbook.save(out)
    out.seek(0)
    return out
