"""Export cells: every coded column holds the catalog's word in the exporter's language."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.core.calendar import WorkingCalendar
from bot.core.i18n import Translator
from bot.core.lifecycle import Channel, Privacy, ReportKind, Role, Status, Verdict
from bot.core.stats import Evaluation, Measured, ReportRow, Tally, WorkingClock, count_rows
from bot.reports.files import CsvExport, XlsxExport
from bot.reports.records import COLUMNS, RecordPolicy, cell_labels, records
from bot.reports.tables import plain
from storage.stats import ExportRow, Names

WIB = ZoneInfo("Asia/Jakarta")
CALENDAR = WorkingCalendar(timezone=WIB)
START = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # Monday 2 Nov 2026, 10:00 WIB
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
DAY = 86_400.0

# The coded columns and the catalog key of a code's label.
CODED = {
    "kind": "stats.kind.{}",
    "channel": "channel.{}",
    "privacy": "stats.privacy.{}",
    "status": "stats.status.{}",
    "verdict": "stats.verdict.{}",
    "verify_on_time": "stats.{}",
    "first_response_on_time": "stats.{}",
    "completion_on_time": "stats.{}",
}
CODES = {
    *(c.value for c in ReportKind),
    *(c.value for c in Channel),
    *(c.value for c in Privacy),
    *(c.value for c in Status),
    *(c.value for c in Verdict),
    "yes",
    "no",
    "True",
    "False",
    "None",
}
VERDICTS: list[str | None] = [None, *(v.value for v in Verdict)]


def export_rows() -> list[ExportRow]:
    """Reports in which every kind, channel, privacy, status, verdict and on-time answer
    (met, missed, not counted) occurs."""
    start = START.timestamp()
    rows = []
    for n in range(3 * 8 * 7):
        # Each stage done a day after it started, against a deadline before, after or none.
        due = [None, start + 2 * DAY, start + 0.5 * DAY][n % 3]
        report = ReportRow(
            status=list(Status)[n % 7].value,
            kind=list(ReportKind)[n % 3].value,
            category_id=1,
            agency_id=None if n % 5 == 0 else 7,
            channel=list(Channel)[n % len(Channel)].value,
            submitted_at=start,
            assigned_at=start + DAY,
            acknowledged_at=start + 2 * DAY,
            resolved_at=start + 3 * DAY,
            closed_at=start + 3 * DAY,
            verify_due_at=due,
            first_response_due_at=None if due is None else due + DAY,
            completion_due_at=None if due is None else due + 2 * DAY,
            verdict=VERDICTS[n % 4],
            rating=None,
        )
        rows.append(
            ExportRow(
                tracking_code=f"TPI-2026-{n:06d}",
                privacy=list(Privacy)[n % 3].value,
                district=None,
                address=None,
                description="Jalan berlubang",
                citizen_first_name="Siti",
                citizen_last_name=None,
                citizen_username=None,
                reporter_name=None,
                reporter_contact=None,
                report=report,
            )
        )
    return rows


def exported(policy: RecordPolicy) -> tuple[list[ExportRow], list[Measured], list[list[Any]]]:
    """The rows, their figures and their export cells."""
    rows = export_rows()
    clock = WorkingClock(CALENDAR)
    clock.cover(date(2026, 10, 1), date(2026, 12, 31))
    figures: list[Measured] = []
    count_rows(
        Evaluation(Tally(), {}, []),
        [r.report for r in rows],
        clock=clock,
        now=NOW.timestamp(),
        measured=figures,
    )
    names = Names(agencies={7: "Dinas PUPR"}, agency_order=[7], categories={1: ("Jalan", "Roads")})
    return rows, figures, records(rows, figures, policy=policy, names=names, clock=clock)


def policy_for(locale: str, translator: Translator) -> RecordPolicy:
    return RecordPolicy(
        role=Role.SUPERADMIN,
        redacted="[x]",
        anonymous="[a]",
        hidden="[h]",
        unassigned="-",
        locale=locale,
        labels=cell_labels(translator, locale),
    )


def expected_label(translator: Translator, locale: str, column: str, code: str) -> str:
    if not code:
        return ""
    return plain(translator, locale, CODED[column].format(code))


def code_of(column: str, row: ExportRow, figures: Measured) -> str:
    """The stored code behind a coded cell."""
    report = row.report
    if column.endswith("_on_time"):
        stage = column.removesuffix("_on_time")
        met = {"verify": figures.verify_met, "first_response": figures.first_response_met}.get(
            stage, figures.completion_met
        )
        return "" if met is None else ("yes" if met else "no")
    value = row.privacy if column == "privacy" else getattr(report, column)
    return value or ""


def read_xlsx(data: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    width = len(rows[0])
    return [[("" if v is None else v) for v in r + [None] * (width - len(r))] for r in rows]


@pytest.mark.parametrize("locale", ["id", "en"])
def test_coded_cells_are_catalog_words_in_the_exporters_language(locale: str) -> None:
    translator = Translator.load()
    rows, figures, cells = exported(policy_for(locale, translator))
    # What goes into the files is what a person reads: check both formats' cells.
    xlsx = XlsxExport(
        report_header=list(COLUMNS),
        agency_header=["agency"],
        sheet_reports="r",
        sheet_agencies="a",
    )
    xlsx.add_rows(cells)
    (xlsx_part,) = xlsx.finish([])
    xlsx_data = xlsx_part.read()
    xlsx_part.close()
    csv_file = CsvExport(report_header=COLUMNS)
    csv_file.add_rows(cells)
    (csv_part,) = csv_file.finish([])
    csv_zip = csv_part.read()
    csv_part.close()
    with zipfile.ZipFile(io.BytesIO(csv_zip)) as zipped:
        csv_data = zipped.read("aduan.csv")
    from_csv = list(csv.reader(io.StringIO(csv_data.decode("utf-8-sig"))))
    for table in (read_xlsx(xlsx_data), from_csv):
        assert table[0] == list(COLUMNS)
        assert len(table) == len(rows) + 1
        seen: dict[str, set[str]] = {column: set() for column in CODED}
        for row, measured, cells_row in zip(rows, figures, table[1:], strict=True):
            by_column = dict(zip(COLUMNS, cells_row, strict=True))
            for column in CODED:
                code = code_of(column, row, measured)
                cell = by_column[column]
                assert cell not in CODES, f"{column} holds the raw code {cell!r}"
                assert cell == expected_label(translator, locale, column, code)
                assert "<" not in cell and "&" not in cell  # plain text, no markup
                seen[column].add(code)
        # Every code of every column (and each on-time answer) was exported.
        assert seen["kind"] == {k.value for k in ReportKind}
        assert seen["channel"] == {c.value for c in Channel}
        assert seen["privacy"] == {p.value for p in Privacy}
        assert seen["status"] == {s.value for s in Status}
        assert seen["verdict"] == {"", *(v.value for v in Verdict)}
        for column in ("verify_on_time", "first_response_on_time", "completion_on_time"):
            assert seen[column] == {"", "yes", "no"}, column


def test_the_two_languages_use_their_own_words() -> None:
    translator = Translator.load()
    indonesian, english = cell_labels(translator, "id"), cell_labels(translator, "en")
    assert indonesian.on_time == {True: "Ya", False: "Tidak", None: ""}
    assert english.on_time == {True: "Yes", False: "No", None: ""}
    for column in ("kind", "channel", "privacy", "status", "verdict"):
        words_id, words_en = getattr(indonesian, column), getattr(english, column)
        assert set(words_id) == set(words_en)
        assert all(word for code, word in words_id.items() if code is not None)
    assert indonesian.status["in_progress"] != english.status["in_progress"]
    assert indonesian.privacy["confidential"] == "Rahasia"
    assert english.verdict["not_fixed"] == "Not fixed"


def test_a_cell_label_loses_markup() -> None:
    translator = Translator(
        {"id": {"stats.kind.complaint": "📢 <b>Pengaduan</b> &amp; aduan"}}, default="id"
    )
    assert plain(translator, "id", "stats.kind.complaint") == "📢 Pengaduan & aduan"


def test_a_stage_done_after_its_deadline_reads_no() -> None:
    _, _, cells = exported(policy_for("en", Translator.load()))
    late = next(
        dict(zip(COLUMNS, c, strict=True))
        for c in cells
        if c[COLUMNS.index("verify_due_at")]
        and c[COLUMNS.index("status")] == "Forwarded"
        and c[COLUMNS.index("verify_due_at")] < c[COLUMNS.index("assigned_at")]
    )
    assert late["verify_on_time"] == "No"
