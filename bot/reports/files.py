"""Export files written as rows arrive: an XLSX workbook (openpyxl write-only) or a CSV.

The XLSX has two sheets: the reports (columns in ``bot.reports.records.COLUMNS``, header row
in the requester's language) and the per-agency summary (``bot.reports.tables``); see
``XlsxExport`` for how the rows are streamed. The CSV has
the reports only, UTF-8 with a byte-order mark (so spreadsheet programs read Indonesian
names right), header row = the column keys. Rows go straight to a temporary file; only the
finished file is read into memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from typing import IO, Any, NamedTuple, Protocol
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.utils import get_column_letter


class ExportFile(Protocol):
    """Something that takes report rows, then the per-agency table, and gives the bytes."""

    extension: str

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append report rows."""

    def finish(
        self, agency_rows: Sequence[Sequence[Any]], max_bytes: int | None = None
    ) -> Finished:
        """Add the per-agency summary (if the format has room for it) and return the file."""


class Finished(NamedTuple):
    """The file, unless it is larger than asked for (then only its size: never read in)."""

    data: bytes | None
    size: int


def _read(handle: IO[bytes], max_bytes: int | None) -> Finished:
    size = handle.seek(0, 2)
    handle.seek(0)
    data = handle.read() if max_bytes is None or size <= max_bytes else None
    handle.close()
    return Finished(data, size)


# A spreadsheet must not run what a citizen typed: CSV text starting like a formula is quoted.
_FORMULA = ("=", "+", "-", "@")


class XlsxExport:
    """The workbook: openpyxl builds it; the reports sheet's rows are streamed in as XML.

    Why not openpyxl's write-only mode for the rows too: it costs about 10 µs a cell
    (measured: 20,000 rows of 28 columns in 5.5 s, with or without lxml), so a year of a
    million reports would take four and a half minutes. The rows are plain SpreadsheetML
    (inline strings and numbers) written straight into the zip entry of the first sheet;
    openpyxl writes everything else (workbook, styles, the per-agency sheet) and its own first
    sheet is replaced by the streamed one.
    """

    extension = "xlsx"
    SHEET = "xl/worksheets/sheet1.xml"

    def __init__(
        self,
        *,
        report_header: Sequence[str],
        agency_header: Sequence[str],
        sheet_reports: str,
        sheet_agencies: str,
    ) -> None:
        self._sheet_names = (sheet_reports[:31], sheet_agencies[:31])
        self._agency_header = list(agency_header)
        self._letters = [get_column_letter(n + 1) for n in range(len(report_header))]
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (until finish)
        self._zip = zipfile.ZipFile(self._file, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._entry = self._zip.open(self.SHEET, "w", force_zip64=True)
        self._entry.write(_SHEET_START)
        self._row = 0
        self._writing: threading.Thread | None = None
        self._failed: BaseException | None = None
        self._write([list(report_header)])

    def _write(self, rows: Sequence[Sequence[Any]]) -> None:
        parts: list[str] = []
        append = parts.append
        letters = self._letters
        needs_escape = _NEEDS_ESCAPE.search
        n = self._row
        for row in rows:
            n += 1
            r = str(n)  # once a row, not once a cell
            append(f'<row r="{r}">')
            for letter, value in zip(letters, row, strict=False):
                kind = type(value)
                if kind is str:
                    if not value:
                        continue
                    if needs_escape(value):
                        value = _xml_text(value)
                    append(f'<c r="{letter}{r}" t="inlineStr"><is><t>{value}</t></is></c>')
                elif kind is int or kind is float:
                    append(f'<c r="{letter}{r}"><v>{value!r}</v></c>')
                elif value is not None:
                    text = _xml_text(str(value))
                    append(f'<c r="{letter}{r}" t="inlineStr"><is><t>{text}</t></is></c>')
            append("</row>")
        self._row = n
        data = "".join(parts).encode()
        # Compressing (zlib lets go of the GIL) overlaps the next batch's rows: one write is
        # in flight at a time, so the entry gets the batches in order.
        self._wait()
        self._writing = threading.Thread(target=self._compress, args=(data,), daemon=True)
        self._writing.start()

    def _compress(self, data: bytes) -> None:
        try:
            self._entry.write(data)
        except BaseException as error:  # raised again in the exporting thread (_wait)
            self._failed = error

    def _wait(self) -> None:
        if self._writing is not None:
            self._writing.join()
            self._writing = None
        if self._failed is not None:
            raise self._failed

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append report rows."""
        self._write(rows)

    def finish(
        self, agency_rows: Sequence[Sequence[Any]], max_bytes: int | None = None
    ) -> Finished:
        """Write the per-agency sheet and return the workbook."""
        self._wait()
        self._entry.write(_SHEET_END)
        self._entry.close()
        skeleton = Workbook()
        reports = skeleton.active
        assert reports is not None
        reports.title = self._sheet_names[0]
        agencies = skeleton.create_sheet(self._sheet_names[1])
        agencies.append(self._agency_header)
        for row in agency_rows:
            agencies.append(list(row))
        buffer = io.BytesIO()
        skeleton.save(buffer)
        with zipfile.ZipFile(buffer) as made:
            for item in made.infolist():
                if item.filename != self.SHEET:
                    self._zip.writestr(item, made.read(item.filename), zipfile.ZIP_DEFLATED)
        self._zip.close()
        return _read(self._file, max_bytes)


_SHEET_START = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<sheetData>"
)
_SHEET_END = b"</sheetData></worksheet>"
# Characters XML 1.0 cannot carry at all (a citizen's text may contain them).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NEEDS_ESCAPE = re.compile('[&<>"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')


def _xml_text(text: str) -> str:
    return escape(_ILLEGAL.sub("", text), {'"': "&quot;"})


class CsvExport:
    """The reports as CSV (comma-separated, quoted as needed)."""

    extension = "csv"

    def __init__(self, *, report_header: Sequence[str]) -> None:
        # Lives until finish(): rows arrive over many calls.
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._file.write(codecs.BOM_UTF8)
        self.add_rows([report_header])

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append report rows (a batch is formatted in memory, then written at once)."""
        text = io.StringIO(newline="")
        csv.writer(text).writerows(
            [
                "'" + value if isinstance(value, str) and value.startswith(_FORMULA) else value
                for value in row
            ]
            for row in rows
        )
        self._file.write(text.getvalue().encode("utf-8"))

    def finish(
        self, agency_rows: Sequence[Sequence[Any]], max_bytes: int | None = None
    ) -> Finished:
        """Return the file (the per-agency summary is in the XLSX only)."""
        return _read(self._file, max_bytes)
