"""Export files: what a citizen typed arrives intact and harmless in XLSX and CSV."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from bot.reports.files import CsvExport, XlsxExport

TRICKY = 'Jalan <Merdeka> & "Pasar"\x07 rusak'
FORMULA = '=HYPERLINK("http://x")'


def test_the_workbook_opens_with_both_sheets_and_keeps_text_and_numbers() -> None:
    export = XlsxExport(
        report_header=["Kode", "Uraian", "Hari"],
        agency_header=["OPD", "Laporan"],
        sheet_reports="Laporan",
        sheet_agencies="Per OPD",
    )
    export.add_rows([["TPI-1", TRICKY, 1.25], ["TPI-2", FORMULA, 3]])
    export.add_rows([["TPI-3", "", None]])
    data, size = export.finish([["Dinas PUPR", 3], ["Kota", None]])
    assert data is not None and size == len(data)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Laporan", "Per OPD"]
    rows = [list(r) for r in book["Laporan"].iter_rows(values_only=True)]
    assert rows[0] == ["Kode", "Uraian", "Hari"]
    assert rows[1] == ["TPI-1", 'Jalan <Merdeka> & "Pasar" rusak', 1.25]  # bell dropped
    assert rows[2] == ["TPI-2", FORMULA, 3]  # an inline string is never a formula
    assert rows[3][0] == "TPI-3" and rows[3][1:] in ([None, None], [])
    assert book["Laporan"]["B3"].data_type == "s"
    agencies = [list(r) for r in book["Per OPD"].iter_rows(values_only=True)]
    assert agencies == [["OPD", "Laporan"], ["Dinas PUPR", 3], ["Kota", None]]


def test_the_csv_quotes_what_a_spreadsheet_would_run() -> None:
    export = CsvExport(report_header=["tracking_code", "description"])
    export.add_rows([["TPI-1", FORMULA], ["TPI-2", "Baris\nkedua, dengan koma"]])
    data, _ = export.finish([])
    # A byte-order mark, so spreadsheet programs read UTF-8.
    assert data is not None and data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [
        ["tracking_code", "description"],
        ["TPI-1", "'" + FORMULA],
        ["TPI-2", "Baris\nkedua, dengan koma"],
    ]


def test_a_file_too_big_to_send_is_measured_but_not_read() -> None:
    export = CsvExport(report_header=["tracking_code"])
    export.add_rows([[f"TPI-{n}"] for n in range(1000)])
    data, size = export.finish([], max_bytes=100)
    assert data is None and size > 100
