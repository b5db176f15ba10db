"""Export a batch as CSV (streamed) and XLSX; import codes made elsewhere, all or nothing."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from promocodes import codes
from promocodes.models import CodeBatch, PromoCode
from tests import factories


def _csv_url(batch) -> str:
    return reverse("promocodes_admin:batch_export_csv", args=[batch.pk])


def _xlsx_url(batch) -> str:
    return reverse("promocodes_admin:batch_export_xlsx", args=[batch.pk])


def _import_url(batch) -> str:
    return reverse("promocodes_admin:batch_import", args=[batch.pk])


def _expected_rows(batch) -> list[list[str]]:
    rows = []
    for code in PromoCode.objects.filter(batch=batch).select_related("member").order_by("id"):
        card = code.member.card_number if code.member_id else ""
        rows.append([codes.display(code.code), card, "0", "1", "Active"])
    return rows


# --- export -----------------------------------------------------------------------------


def test_csv_export_streams_every_code_of_the_batch(marketer_client, batch):
    # given another batch's code, which must not appear
    factories.PromoCodeFactory()

    # when
    response = marketer_client.get(_csv_url(batch))

    # then
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="promocodes-{batch.pk}.csv"'
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [
        ["Code", "Card number", "Used", "Uses allowed", "Status"],
        *_expected_rows(batch),
    ]
    assert len(rows) == 4


def test_csv_export_comes_in_pieces(marketer_client, batch, monkeypatch):
    # given pieces of one row
    monkeypatch.setattr("promocodes.exports.CHUNK", 1)

    # when
    response = marketer_client.get(_csv_url(batch))

    # then the header and each row leave separately
    pieces = list(response.streaming_content)
    assert len(pieces) == 4


def test_xlsx_export_opens_with_openpyxl(marketer_client, batch):
    # when
    response = marketer_client.get(_xlsx_url(batch))

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"] == f'attachment; filename="promocodes-{batch.pk}.xlsx"'
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = [
        ["" if v is None else str(v) for v in row]
        for row in workbook.worksheets[0].iter_rows(values_only=True)
    ]
    assert rows == [
        ["Code", "Card number", "Used", "Uses allowed", "Status"],
        *_expected_rows(batch),
    ]


def test_xlsx_export_of_more_codes_than_a_sheet_holds_points_to_csv(
    marketer_client, batch, monkeypatch
):
    # given a sheet limit below the batch's size (a real one would need 1M+ codes)
    from promocodes import exports

    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", batch.codes.count() - 1)

    # when
    response = marketer_client.get(_xlsx_url(batch), follow=True)

    # then the batch page says why and which format to use instead, and no file is sent
    assert response.redirect_chain[-1][0] == reverse(
        "admin:promocodes_codebatch_change", args=[batch.pk]
    )
    assert "export it as CSV" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


def test_batch_page_offers_export_buttons_that_lead_to_the_files(marketer_client, batch):
    # given the batch page
    page = marketer_client.get(reverse("admin:promocodes_codebatch_change", args=[batch.pk]))
    csv_action = reverse("admin:promocodes_codebatch_export_csv", args=[batch.pk])
    xlsx_action = reverse("admin:promocodes_codebatch_export_xlsx", args=[batch.pk])
    import_action = reverse("admin:promocodes_codebatch_import_codes", args=[batch.pk])

    # when the buttons are followed
    csv_hop = marketer_client.get(csv_action)
    xlsx_hop = marketer_client.get(xlsx_action)

    # then they lead to the downloads; a generated batch offers no import
    html = page.content.decode()
    assert csv_action in html
    assert xlsx_action in html
    assert import_action not in html
    assert csv_hop["Location"] == _csv_url(batch)
    assert xlsx_hop["Location"] == _xlsx_url(batch)


def test_export_of_a_missing_batch_is_404(marketer_client):
    assert (
        marketer_client.get("/admin/promocodes/tools/batches/999999/export.csv").status_code == 404
    )


# --- import -----------------------------------------------------------------------------


def _codes(n: int) -> list[str]:
    fmt = codes.CodeFormat(prefix="PRT", alphabet="safe", length=8)
    return list(codes.codes_split(codes.codes_generate(fmt, n), fmt))


def test_import_of_pasted_codes(marketer_client, imported_batch):
    # given codes typed loosely: lower case, dashes, a blank line
    made = _codes(3)
    text = f"{made[0].lower()}\n{codes.display(made[1])}\n\n{made[2]}\n"

    # when
    response = marketer_client.post(_import_url(imported_batch), {"text": text, "import": "1"})

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:promocodes_codebatch_change", args=[imported_batch.pk]
    )
    assert sorted(
        PromoCode.objects.filter(batch=imported_batch).values_list("code", flat=True)
    ) == (sorted(made))
    imported_batch.refresh_from_db()
    assert imported_batch.count == 3


def test_import_of_a_csv_file_with_a_header_and_semicolons(marketer_client, imported_batch):
    # given a CSV as Russian Excel saves it: header, semicolons, Windows-1251
    made = _codes(2)
    content = "Код;Примечание\n" + "".join(f"{c};партнёр\n" for c in made)
    upload = SimpleUploadedFile("codes.csv", content.encode("cp1251"), "text/csv")

    # when
    response = marketer_client.post(_import_url(imported_batch), {"file": upload, "import": "1"})

    # then
    assert response.status_code == 302
    assert set(PromoCode.objects.filter(batch=imported_batch).values_list("code", flat=True)) == (
        set(made)
    )


def test_import_of_an_xlsx_file(marketer_client, imported_batch):
    # given a workbook with the codes in column A under a title
    made = _codes(3)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Code", "Note"])
    for code in made:
        sheet.append([codes.display(code), "x"])
    out = io.BytesIO()
    workbook.save(out)
    upload = SimpleUploadedFile("codes.xlsx", out.getvalue())

    # when
    response = marketer_client.post(_import_url(imported_batch), {"file": upload, "import": "1"})

    # then
    assert response.status_code == 302
    assert PromoCode.objects.filter(batch=imported_batch).count() == 3


def test_an_exported_csv_imports_back_elsewhere_only_as_duplicates(
    marketer_client, batch, imported_batch
):
    # given the CSV export of a batch
    exported = b"".join(marketer_client.get(_csv_url(batch)).streaming_content)
    upload = SimpleUploadedFile("export.csv", exported, "text/csv")

    # when it is imported into another batch
    response = marketer_client.post(_import_url(imported_batch), {"file": upload, "import": "1"})

    # then every code is reported as existing already, and nothing is imported
    assert response.status_code == 200
    expected = sorted(codes.display(c) for c in batch.codes.values_list("code", flat=True))
    assert response.context["duplicates"] == expected
    assert not PromoCode.objects.filter(batch=imported_batch).exists()


def test_import_refuses_the_whole_file_for_one_bad_line(marketer_client, imported_batch):
    # given good codes, a line with letters no code has, a repeat, and an existing code
    made = _codes(3)
    existing = factories.PromoCodeFactory()
    text = "\n".join([made[0], "ОШИБКА-1", made[1], made[1].lower(), existing.code, made[2]])

    # when
    response = marketer_client.post(_import_url(imported_batch), {"text": text, "import": "1"})

    # then every problem is listed, and nothing was imported
    assert response.status_code == 200
    context = response.context
    assert [(line, text) for line, text, _why in context["invalid"]] == [(2, "ОШИБКА-1")]
    assert context["duplicates"] == [codes.display(made[1]), codes.display(existing.code)]
    html = response.content.decode()
    assert "Nothing was imported: fix the lines below and try again." in html
    assert "ОШИБКА-1" in html
    assert not PromoCode.objects.filter(batch=imported_batch).exists()
    imported_batch.refresh_from_db()
    assert imported_batch.count == 0


def test_check_shows_a_preview_and_imports_nothing(marketer_client, imported_batch):
    # given
    made = _codes(3)

    # when the marketer checks the file first (htmx swaps in the result)
    response = marketer_client.post(
        _import_url(imported_batch),
        {"text": "\n".join(made), "check": "1"},
        headers={"HX-Request": "true"},
    )

    # then the fragment lists what would be imported, and nothing was
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "The file has 3 new codes; press “Import” to add them." in html
    assert codes.display(made[0]) in html
    assert not PromoCode.objects.filter(batch=imported_batch).exists()
    imported_batch.refresh_from_db()
    assert imported_batch.count == 0


def test_import_page_and_form_errors(marketer_client, imported_batch):
    # when
    page = marketer_client.get(_import_url(imported_batch))
    empty = marketer_client.post(_import_url(imported_batch), {"text": "", "import": "1"})
    wrong_type = marketer_client.post(
        _import_url(imported_batch),
        {"file": SimpleUploadedFile("codes.pdf", b"%PDF"), "import": "1"},
    )
    broken = marketer_client.post(
        _import_url(imported_batch),
        {"file": SimpleUploadedFile("codes.xlsx", b"not a zip"), "import": "1"},
    )

    # then
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.content.decode()
    assert empty.context["form"].errors == {"__all__": ["Upload a file or paste the codes."]}
    assert wrong_type.context["form"].errors == {"__all__": ["Upload a CSV, TXT or XLSX file."]}
    assert broken.context["form"].errors == {
        "__all__": ["The file is not a readable XLSX workbook."]
    }
    assert not PromoCode.objects.exists()


def test_import_into_a_generated_batch_is_refused(marketer_client, batch):
    # given
    before = PromoCode.objects.filter(batch=batch).count()

    # when
    response = marketer_client.post(_import_url(batch), {"text": _codes(1)[0], "import": "1"})

    # then
    assert response.status_code == 302
    assert PromoCode.objects.filter(batch=batch).count() == before


def test_imported_batch_page_offers_the_import(marketer_client, imported_batch):
    page = marketer_client.get(
        reverse("admin:promocodes_codebatch_change", args=[imported_batch.pk])
    )
    action = reverse("admin:promocodes_codebatch_import_codes", args=[imported_batch.pk])

    assert action in page.content.decode()
    assert marketer_client.get(action)["Location"] == _import_url(imported_batch)


@pytest.mark.parametrize("lines", [20_000])
def test_import_of_a_large_file(marketer_client, imported_batch, lines):
    # given a file of many codes (codes_import asks for all of them in one code__in query)
    made = _codes(lines)
    upload = SimpleUploadedFile("codes.txt", "\n".join(made).encode(), "text/plain")

    # when
    response = marketer_client.post(_import_url(imported_batch), {"file": upload, "import": "1"})

    # then
    assert response.status_code == 302
    assert CodeBatch.objects.get(pk=imported_batch.pk).count == lines
