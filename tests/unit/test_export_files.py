"""Export files: what a citizen typed arrives intact and harmless in XLSX and CSV, and an
export larger than the part limit arrives as several parts, each under it, every row once."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.reports.files import (
    MAX_PART_BYTES,
    TELEGRAM_UPLOAD_LIMIT,
    CsvExport,
    Part,
    PartLimitTooSmall,
    XlsxExport,
)

TRICKY = 'Jalan <Merdeka> & "Pasar"\x07 rusak'
FORMULA = '=HYPERLINK("http://x")'


def xlsx_export(limit: int = MAX_PART_BYTES) -> XlsxExport:
    return XlsxExport(
        report_header=["Kode", "Uraian", "Hari"],
        agency_header=["OPD", "Laporan"],
        sheet_reports="Laporan",
        sheet_agencies="Per OPD",
        max_part_bytes=limit,
        mark_column=0,
    )


def csv_rows(part: Part) -> tuple[list[str], list[list[str]]]:
    data = part.read()
    assert len(data) == part.size
    part.close()
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        assert zipped.testzip() is None  # every CRC right
        (name,) = zipped.namelist()
        text = zipped.read(name)
    assert text.startswith(b"\xef\xbb\xbf")  # a byte-order mark, so spreadsheets read UTF-8
    return [name], list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))


def test_the_limit_is_under_telegrams() -> None:
    assert MAX_PART_BYTES < TELEGRAM_UPLOAD_LIMIT <= 50 * 1000 * 1000


def test_the_workbook_opens_with_both_sheets_and_keeps_text_and_numbers() -> None:
    export = xlsx_export()
    export.add_rows([["TPI-1", TRICKY, 1.25], ["TPI-2", FORMULA, 3]])
    export.add_rows([["TPI-3", "", None]])
    (part,) = export.finish([["Dinas PUPR", 3], ["Kota", None]])
    assert (part.rows, part.first, part.last) == (3, "TPI-1", "TPI-3")
    book = load_workbook(io.BytesIO(part.read()))
    assert book.sheetnames == ["Laporan", "Per OPD"]
    rows = [list(r) for r in book["Laporan"].iter_rows(values_only=True)]
    assert rows[0] == ["Kode", "Uraian", "Hari"]
    assert rows[1] == ["TPI-1", 'Jalan <Merdeka> & "Pasar" rusak', 1.25]  # bell dropped
    assert rows[2] == ["TPI-2", FORMULA, 3]  # an inline string is never a formula
    assert rows[3] == ["TPI-3", None, None]
    assert book["Laporan"]["B3"].data_type == "s"
    agencies = [list(r) for r in book["Per OPD"].iter_rows(values_only=True)]
    assert agencies == [["OPD", "Laporan"], ["Dinas PUPR", 3], ["Kota", None]]
    part.close()


def test_the_csv_is_zipped_and_quotes_what_a_spreadsheet_would_run() -> None:
    export = CsvExport(report_header=["tracking_code", "description"], stem="aduan-2026-11")
    export.add_rows([["TPI-1", FORMULA], ["TPI-2", "Baris\nkedua, dengan koma"]])
    (part,) = export.finish([])
    names, rows = csv_rows(part)
    assert names == ["aduan-2026-11.csv"]
    assert rows == [
        ["tracking_code", "description"],
        ["TPI-1", "'" + FORMULA],
        ["TPI-2", "Baris\nkedua, dengan koma"],
    ]


def batches(count: int, size: int) -> list[list[list[Any]]]:
    """``count`` batches of ``size`` rows of poorly compressible text (random words)."""
    rng = random.Random(12)
    words = ["jalan", "rusak", "lampu", "mati", "sampah", "banjir", "<pasar>", "&", "saluran"]
    out = []
    for b in range(count):
        out.append(
            [
                [f"TPI-{b * size + n:06d}", " ".join(rng.choices(words, k=40)), rng.random()]
                for n in range(size)
            ]
        )
    return out


def test_an_xlsx_larger_than_the_limit_arrives_in_parts_under_it_with_every_row_once() -> None:
    limit = 120_000
    export = xlsx_export(limit)
    sent = batches(8, 1000)
    for batch in sent:
        export.add_rows(batch)
    parts = export.finish([["Dinas PUPR", 8000], ["Kota", 8000]])
    assert len(parts) >= 3
    codes: list[str] = []
    for number, part in enumerate(parts, start=1):
        data = part.read()
        assert len(data) == part.size <= limit
        book = load_workbook(io.BytesIO(data), read_only=True)
        last = number == len(parts)
        # The per-agency summary is known at the end: it is in the last part.
        assert book.sheetnames == (["Laporan", "Per OPD"] if last else ["Laporan"])
        rows = [list(r) for r in book["Laporan"].iter_rows(values_only=True)]
        assert rows[0] == ["Kode", "Uraian", "Hari"]
        assert len(rows) - 1 == part.rows and rows[1][0] == part.first and rows[-1][0] == part.last
        codes += [r[0] for r in rows[1:]]
        part.close()
    assert codes == [row[0] for batch in sent for row in batch]
    # Split by size, so the parts are nearly full (all but the last).
    assert min(p.size for p in parts[:-1]) > limit * 0.9


def test_a_csv_larger_than_the_limit_arrives_in_zips_under_it_with_every_row_once() -> None:
    limit = 50_000
    export = CsvExport(
        report_header=["tracking_code", "description", "days"],
        stem="aduan-2026",
        max_part_bytes=limit,
    )
    sent = batches(5, 2000)
    for batch in sent:
        export.add_rows(batch)
    parts = export.finish([])
    assert len(parts) >= 3
    codes: list[str] = []
    names: list[str] = []
    for part in parts:
        assert part.size <= limit
        (name,), rows = csv_rows(part)
        names.append(name)
        assert rows[0] == ["tracking_code", "description", "days"] and len(rows) - 1 == part.rows
        codes += [r[0] for r in rows[1:]]
    assert codes == [row[0] for batch in sent for row in batch]
    assert names[:2] == ["aduan-2026.csv", "aduan-2026-part2.csv"]


def test_a_summary_that_no_longer_fits_gets_a_part_of_its_own() -> None:
    limit = 60_000
    export = xlsx_export(limit)
    export.add_rows(batches(1, 1000)[0])
    big_summary = [[f"OPD {n} " + "x" * 200, n] for n in range(400)]
    parts = export.finish(big_summary)
    assert all(p.size <= limit for p in parts)
    book = load_workbook(io.BytesIO(parts[-1].read()), read_only=True)
    assert [list(r) for r in book["Per OPD"].iter_rows(values_only=True)][1:] == big_summary
    assert sum(p.rows for p in parts) == 1000
    for part in parts:
        part.close()


def test_a_row_bigger_than_a_part_is_refused_not_sent() -> None:
    export = CsvExport(report_header=["description"], max_part_bytes=2_000)
    with pytest.raises(PartLimitTooSmall):
        export.add_rows([[random.Random(1).randbytes(5000).hex()]])
    export.discard()
