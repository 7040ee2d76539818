"""Export files written as rows arrive, split into parts that Telegram accepts.

Why parts: a bot may upload documents of at most 50 MB (``TELEGRAM_UPLOAD_LIMIT``), and a
year of a million reports is about 230 MB as XLSX and 460 MB as CSV. So an export is a
sequence of parts, each a complete file under ``MAX_PART_BYTES``; the rows go to the parts in
order (oldest first), every row in exactly one part, and each part starts with the header row:

- XLSX: each part is a workbook. Its first sheet holds the part's reports (columns in
  ``bot.reports.records.COLUMNS``, header in the requester's language); the LAST part also has
  the per-agency summary sheet (``bot.reports.tables``), which is only known once every row has
  been counted. A month is usually one part, a year of a million reports about five.
- CSV: each part is a zip holding one CSV file (UTF-8 with a byte-order mark, so spreadsheet
  programs read Indonesian names right; header row = the column keys). CSV compresses about
  eight-fold, so a year of a million reports usually fits in two or three parts.

How the limit is guaranteed, not hoped for: both formats are zip files written by ``_Zip``, a
minimal zip writer whose deflate stream ends every write with a sync flush, so the part's size
on disk is exact after each write (not a guess behind zlib's buffers). Before rows are
written, ``_Parts`` checks that the part's size + the worst case of deflating them
(``deflate_bound``) + everything the part still needs at its end (``_Parts._tail``: the
sheet's closing tags, the workbook's other files compressed, the zip directory; computed
exactly at the start) stays under the limit; if not, the rows are split (at row boundaries)
or the part is closed and a new one started. Nothing is ever uploaded over the limit: a
single row too big for an empty part raises ``PartLimitTooSmall`` (impossible at 49 MB: a
report is a few KB), and a finished part is measured once more before it is handed out.

Memory: rows are formatted a batch at a time and compressed straight into anonymous temporary
files (deleted when closed, or when the process dies); only one part at a time is read into
memory, to be uploaded. Compression (zlib lets go of the GIL) runs in a helper thread while the
next batch is formatted; one write is in flight at a time, so every entry gets its rows in
order.

The reports sheet is SpreadsheetML written directly (inline strings and numbers) rather than
through openpyxl's write-only mode, which costs about 10 µs a cell (a year: four and a half
minutes). Rows and cells carry no ``r`` reference (it is optional in ECMA-376; readers count
rows and cells), so a batch's XML does not depend on the part it lands in, and empty cells are
``<c/>``. openpyxl writes everything else (workbook, styles, the per-agency sheet).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import struct
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from xml.sax.saxutils import escape

# The Bot API's limit for a document a bot uploads (sendDocument): 50 MB.
TELEGRAM_UPLOAD_LIMIT = 50 * 1000 * 1000
# Each part stays under this: 50 MB read as decimal megabytes (the smaller reading), less a
# megabyte for the multipart request around the file.
MAX_PART_BYTES = TELEGRAM_UPLOAD_LIMIT - 1000 * 1000

# Zip fields are 32-bit without ZIP64: an entry's uncompressed size stays below this (a part
# rolls over first; only text repeated thousands of times could get near it).
_MAX_ENTRY = 0xFFFF_FFFF
_FINISH_BYTES = 16  # what Z_FINISH adds after a sync flush (an empty final block): ≤ 10


def deflate_bound(size: int) -> int:
    """The most ``size`` bytes can become when deflated and sync-flushed (stored blocks: 5
    bytes per 16 KiB, plus the 5-byte flush marker), with room to spare."""
    return size + (size >> 10) + 64


class PartLimitTooSmall(ValueError):
    """One row (or a part's fixed content) does not fit in an empty part."""


@dataclass
class Part:
    """One finished file of an export: in an anonymous temporary file until closed."""

    handle: IO[bytes]
    size: int
    rows: int
    first: str = ""  # the mark column (submitted at) of its first and last row
    last: str = ""

    def read(self) -> bytes:
        """The whole part (at most ``MAX_PART_BYTES``): read once, to upload it."""
        self.handle.seek(0)
        return self.handle.read()

    def close(self) -> None:
        """Delete the file."""
        self.handle.close()


class _Zip:
    """A zip file on an anonymous temporary file, written entry by entry.

    Deflated entries; each ``write`` ends with a sync flush, so ``size`` is exact after it.
    The local header is written with zero sizes and patched when the entry ends (the file is
    seekable), so no data descriptors: every zip reader takes it.
    """

    LEVEL = 1  # fast: a year is over a GB of XML; higher levels cost CPU for a few % less

    def __init__(self) -> None:
        self.handle: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (a Part owns it)
        self._entries: list[tuple[bytes, int, int, int, int]] = []  # name, crc, c, u, offset
        self._name = b""
        self._offset = 0
        self._crc = 0
        self.entry_size = 0  # uncompressed bytes of the open entry
        self._compressed = 0
        self._compressor: Any = None
        self.size = 0

    @staticmethod
    def directory_size(names: Sequence[str]) -> int:
        """The central directory and its end record, for entries of these names."""
        return sum(46 + len(n.encode()) for n in names) + 22

    @staticmethod
    def local_size(name: str) -> int:
        return 30 + len(name.encode())

    def begin(self, name: str) -> None:
        self._name = name.encode()
        self._offset = self.size
        self._crc = 0
        self.entry_size = 0
        self._compressed = 0
        self._compressor = zlib.compressobj(self.LEVEL, zlib.DEFLATED, -15)
        self._put(self._local_header())

    def write(self, data: bytes) -> None:
        compressor = self._compressor
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        self._crc = zlib.crc32(data, self._crc)
        self.entry_size += len(data)
        self._compressed += len(out)
        self._put(out)

    def end(self) -> None:
        out = self._compressor.flush(zlib.Z_FINISH)
        self._compressed += len(out)
        self._put(out)
        self._compressor = None
        self.handle.seek(self._offset)
        self.handle.write(self._local_header())
        self.handle.seek(self.size)
        self._entries.append(
            (self._name, self._crc, self._compressed, self.entry_size, self._offset)
        )

    def add(self, name: str, data: bytes) -> None:
        self.begin(name)
        self.write(data)
        self.end()

    def close(self) -> int:
        """Write the central directory; returns the file's size."""
        start = self.size
        for name, crc, compressed, size, offset in self._entries:
            self._put(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    20,
                    20,
                    0x0800,
                    8,
                    *_DOS_STAMP,
                    crc,
                    compressed,
                    size,
                    len(name),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + name
            )
        entries = len(self._entries)
        self._put(
            struct.pack(
                "<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, self.size - start, start, 0
            )
        )
        self.handle.flush()
        return self.size

    def _local_header(self) -> bytes:
        return (
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                0x0800,
                8,
                *_DOS_STAMP,
                self._crc,
                self._compressed,
                self.entry_size,
                len(self._name),
                0,
            )
            + self._name
        )

    def _put(self, data: bytes) -> None:
        self.handle.write(data)
        self.size += len(data)


def _dos_stamp() -> tuple[int, int]:
    year, month, day, hour, minute, second = time.localtime()[:6]
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


_DOS_STAMP = _dos_stamp()


class ExportFile(Protocol):
    """Takes report rows, then the per-agency table, and gives the parts."""

    extension: str

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append report rows (in order)."""

    def finish(self, agency_rows: Sequence[Sequence[Any]]) -> list[Part]:
        """Add the per-agency summary (if the format has room for it); return the parts."""

    def discard(self) -> None:
        """Delete every file (after a failure)."""


class _Encoded(Protocol):
    """A batch of rows formatted for a file: the bytes of rows ``start`` to ``stop``."""

    def text(self, start: int, stop: int) -> bytes:
        """Rows ``[start, stop)`` as bytes (the whole batch is asked for first)."""


@dataclass
class _Pieces:
    """Rows formatted one text each (XLSX ``<row>`` elements)."""

    rows: list[str]

    def text(self, start: int, stop: int) -> bytes:
        return "".join(self.rows[start:stop]).encode()


@dataclass
class _Parts:
    """Splits a stream of encoded rows into zip parts under ``limit`` (see the module)."""

    limit: int
    entry_name: Callable[[int], str]  # part number (1-based) -> the data entry's name
    longest_name: str  # no data entry's name is longer (the directory's size)
    header: bytes  # opens the data entry of every part
    footer: bytes  # closes it
    plain_files: Sequence[tuple[str, bytes]]  # what a non-final part has after its data
    mark_column: int | None
    parts: list[Part] = field(default_factory=list)
    _zip: _Zip | None = None
    _rows: int = 0
    _first: str = ""
    _last: str = ""
    _writing: threading.Thread | None = None
    _failed: BaseException | None = None

    def __post_init__(self) -> None:
        self._plain_tail = self._tail(self.plain_files)

    def _tail(self, files: Sequence[tuple[str, bytes]]) -> int:
        """What closing the open part with ``files`` after its data entry adds: the footer,
        the final flush, the files (exactly) and the directory."""
        names = [self.longest_name, *(name for name, _ in files)]
        return (
            deflate_bound(len(self.footer))
            + _FINISH_BYTES
            + _files_size(files)
            + _Zip.directory_size(names)
        )

    def _open(self) -> _Zip:
        self._wait()
        if self._zip is None:
            self._zip = _Zip()
            self._zip.begin(self.entry_name(len(self.parts) + 1))
            self._zip.write(self.header)
            self._rows, self._first, self._last = 0, "", ""
        return self._zip

    def _room(self, tail: int) -> int:
        """How many more compressed bytes the open part takes before ``tail``."""
        return self.limit - self._open().size - tail

    def _fits(self, size: int, tail: int) -> bool:
        zip_ = self._open()
        if zip_.entry_size + size + len(self.footer) > _MAX_ENTRY:
            return False
        return deflate_bound(size) <= self._room(tail)

    def add(self, rows: Sequence[Sequence[Any]], encoded: _Encoded) -> None:
        """Write the rows, splitting them between parts where the limit says so."""
        start, count = 0, len(rows)
        tail = self._plain_tail
        while start < count:
            stop = count
            data = encoded.text(start, stop)
            while not self._fits(len(data), tail):
                if stop - start > 1:
                    # As many rows as the room left would take uncompressed (at least one).
                    share = max(self._room(tail), 0) / deflate_bound(len(data))
                    stop = start + max(1, min(stop - start - 1, int((stop - start) * share)))
                    data = encoded.text(start, stop)
                elif self._rows == 0:
                    raise PartLimitTooSmall(f"a row of {len(data)} bytes does not fit a part")
                else:
                    self._close(self.plain_files)  # its tail was kept free
            self._write(data)
            if self.mark_column is not None:
                if not self._rows:
                    self._first = str(rows[start][self.mark_column])
                self._last = str(rows[stop - 1][self.mark_column])
            self._rows += stop - start
            start = stop

    def _write(self, data: bytes) -> None:
        zip_ = self._open()
        # Compressing overlaps the next batch's formatting; one write in flight at a time.
        self._writing = threading.Thread(target=self._compress, args=(zip_, data), daemon=True)
        self._writing.start()

    def _compress(self, zip_: _Zip, data: bytes) -> None:
        try:
            zip_.write(data)
        except BaseException as error:  # raised again in the exporting thread (_wait)
            self._failed = error

    def _wait(self) -> None:
        if self._writing is not None:
            self._writing.join()
            self._writing = None
        if self._failed is not None:
            raise self._failed

    def _close(self, files: Sequence[tuple[str, bytes]]) -> None:
        """End the open part with ``files`` after its data entry."""
        zip_ = self._open()
        zip_.write(self.footer)
        zip_.end()
        for name, data in files:
            zip_.add(name, data)
        size = zip_.close()
        if size > self.limit:  # cannot happen (checked before every write): never sent
            raise PartLimitTooSmall(f"a part of {size} bytes is over the limit {self.limit}")
        self.parts.append(Part(zip_.handle, size, self._rows, self._first, self._last))
        self._zip = None

    def finish(self, files: Sequence[tuple[str, bytes]]) -> list[Part]:
        """Close the last part with ``files`` (in a new part if they do not fit the open one)."""
        tail = self._tail(files)
        if not self._fits(0, tail):
            if self._rows == 0:
                raise PartLimitTooSmall("the summary does not fit an empty part")
            self._close(self.plain_files)
            if not self._fits(0, tail):
                raise PartLimitTooSmall("the summary does not fit an empty part")
        self._close(files)
        return self.parts

    def discard(self) -> None:
        """Delete every file (after a failure, or when the export was not wanted)."""
        if self._writing is not None:
            self._writing.join()
            self._writing = None
        for part in self.parts:
            part.close()
        self.parts = []
        if self._zip is not None:
            self._zip.handle.close()
            self._zip = None


def _files_size(files: Sequence[tuple[str, bytes]]) -> int:
    """Exactly what ``_Zip.add`` writes for these files (local headers and deflated data)."""
    total = 0
    for name, data in files:
        compressor = zlib.compressobj(_Zip.LEVEL, zlib.DEFLATED, -15)
        body = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        body += compressor.flush(zlib.Z_FINISH)
        total += _Zip.local_size(name) + len(body)
    return total


class XlsxExport:
    """XLSX parts: each a workbook; the last one also has the per-agency sheet."""

    extension = "xlsx"
    SHEET = "xl/worksheets/sheet1.xml"

    def __init__(
        self,
        *,
        report_header: Sequence[str],
        agency_header: Sequence[str],
        sheet_reports: str,
        sheet_agencies: str,
        max_part_bytes: int = MAX_PART_BYTES,
        mark_column: int | None = None,
    ) -> None:
        self._sheet_names = (sheet_reports[:31], sheet_agencies[:31])
        self._agency_header = list(agency_header)
        self._caches: dict[int, _Cells] = {}
        self._wide: set[int] = set()  # columns not worth a cache
        header = self._encode([list(report_header)])
        self._caches.clear()
        self._wide.clear()
        self._parts = _Parts(
            limit=max_part_bytes,
            entry_name=lambda _: self.SHEET,
            longest_name=self.SHEET,
            header=_SHEET_START + header.text(0, 1),
            footer=_SHEET_END,
            plain_files=self._skeleton(None),
            mark_column=mark_column,
        )

    def _skeleton(self, agency_rows: Sequence[Sequence[Any]] | None) -> list[tuple[str, bytes]]:
        """The workbook's files but the reports sheet (with the agency sheet if given)."""
        # openpyxl is imported on the first XLSX export, not when the bot starts.
        from openpyxl import Workbook

        skeleton = Workbook()
        reports = skeleton.active
        assert reports is not None
        reports.title = self._sheet_names[0]
        if agency_rows is not None:
            agencies = skeleton.create_sheet(self._sheet_names[1])
            agencies.append(self._agency_header)
            for row in agency_rows:
                agencies.append(list(row))
        buffer = io.BytesIO()
        skeleton.save(buffer)
        with zipfile.ZipFile(buffer) as made:
            return [
                (item.filename, made.read(item.filename))
                for item in made.infolist()
                if item.filename != self.SHEET
            ]

    def _encode(self, rows: Sequence[Sequence[Any]]) -> _Encoded:
        """The rows as ``<row>`` elements, built column by column (see ``_cells``)."""
        columns = [
            self._cells(index, column) for index, column in enumerate(zip(*rows, strict=True))
        ]
        return _Pieces([f"<row>{text}</row>" for text in map("".join, zip(*columns, strict=True))])

    def _cells(self, index: int, column: Sequence[Any]) -> list[str]:
        """One column of a batch as cells. Most columns take few distinct values (kinds,
        statuses, agencies, deadlines, days): their cells come from a cache kept across
        batches (a C-level map of dict look-ups); a column whose batch is mostly distinct
        values (codes, descriptions, moments) is built directly, escaped only if the batch
        has a character that needs it. Measured: 9.5 → 5 µs a row of 28 cells."""
        if index not in self._wide:
            cache = self._caches.get(index)
            if cache is None:
                if len(set(column)) * 4 > len(column):
                    self._wide.add(index)
                else:
                    cache = self._caches[index] = _Cells()
            if cache is not None:
                cells = list(map(cache.__getitem__, column))
                if len(cache) > _CACHE_CELLS:
                    cache.clear()
                return cells
        if all(type(v) is str for v in column) and not _NEEDS_ESCAPE.search("".join(column)):
            return [f'<c t="inlineStr"><is><t>{v}</t></is></c>' if v else "<c/>" for v in column]
        return list(map(_cell, column))

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append report rows."""
        self._parts.add(rows, self._encode(rows))

    def finish(self, agency_rows: Sequence[Sequence[Any]]) -> list[Part]:
        """Write the per-agency sheet into the last part and return the parts."""
        return self._parts.finish(self._skeleton(agency_rows))

    def discard(self) -> None:
        """Delete every file."""
        self._parts.discard()


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


def _cell(value: Any) -> str:
    """One cell: text as an inline string (never a formula), numbers as numbers, empty
    (``""`` or None) as an empty cell."""
    kind = type(value)
    if kind is str:
        if not value:
            return "<c/>"
        if _NEEDS_ESCAPE.search(value):
            value = _xml_text(value)
        return f'<c t="inlineStr"><is><t>{value}</t></is></c>'
    if kind is int or kind is float:
        return f"<c><v>{value!r}</v></c>"
    if value is None:
        return "<c/>"
    return f'<c t="inlineStr"><is><t>{_xml_text(str(value))}</t></is></c>'


_CACHE_CELLS = 20_000  # a column's cache is emptied past this many distinct values


class _Cells(dict[Any, str]):
    """Value -> its cell, made on first use."""

    __slots__ = ()

    def __missing__(self, value: Any) -> str:
        cell = self[value] = _cell(value)
        return cell


# A spreadsheet must not run what a citizen typed: CSV text starting like a formula is quoted.
_FORMULA = ("=", "+", "-", "@")
# Could a value of the column (joined by newlines) start like a formula? Numbers are never
# quoted; a negative one only sends its column down the careful path.
_FORMULA_AFTER_NEWLINE = re.compile(r"\n[=+\-@]")  # a literal first: a fast scan


def _maybe_formula(values: Sequence[Any]) -> bool:
    try:
        joined = "\n".join(values)  # a text column: no conversion
    except TypeError:
        joined = "\n".join(map(str, values))
    return joined[:1] in _FORMULA or _FORMULA_AFTER_NEWLINE.search(joined) is not None


def _defused(rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """The rows with text that starts like a formula quoted. Column by column: a column with
    no such value (nearly all) is checked in one C-level search, not cell by cell; the rows
    are rebuilt only if a column had one."""
    if not rows:
        return rows
    columns = list(zip(*rows, strict=True))
    changed = False
    for index, column in enumerate(columns):
        if _maybe_formula(column):
            columns[index] = tuple(
                "'" + v if isinstance(v, str) and v.startswith(_FORMULA) else v for v in column
            )
            changed = True
    return list(zip(*columns, strict=True)) if changed else rows


@dataclass
class _CsvRows:
    """A batch of CSV rows: formatted at once (the csv module's C loop); a range of them is
    formatted again only when a part's end falls inside the batch."""

    rows: Sequence[Sequence[Any]]
    _whole: bytes | None = None

    def text(self, start: int, stop: int) -> bytes:
        if start == 0 and stop == len(self.rows):
            if self._whole is None:
                self._whole = self._format(self.rows)
            return self._whole
        return self._format(self.rows[start:stop])

    @staticmethod
    def _format(rows: Sequence[Sequence[Any]]) -> bytes:
        text = io.StringIO(newline="")
        csv.writer(text).writerows(rows)
        return text.getvalue().encode()


class CsvExport:
    """CSV parts: each a zip holding one CSV (comma-separated, quoted as needed)."""

    extension = "csv.zip"

    def __init__(
        self,
        *,
        report_header: Sequence[str],
        stem: str = "aduan",
        max_part_bytes: int = MAX_PART_BYTES,
        mark_column: int | None = None,
    ) -> None:
        header = self._encode([report_header])
        self._parts = _Parts(
            limit=max_part_bytes,
            # The first part's CSV has the export's name; the next ones are numbered.
            entry_name=lambda n: f"{stem}.csv" if n == 1 else f"{stem}-part{n}.csv",
            longest_name=f"{stem}-part99999.csv",
            header=codecs.BOM_UTF8 + header.text(0, 1),
            footer=b"",
            plain_files=(),
            mark_column=mark_column,
        )

    @staticmethod
    def _encode(rows: Sequence[Sequence[Any]]) -> _CsvRows:
        return _CsvRows(_defused(rows))

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append report rows (a batch is formatted in memory, then written at once)."""
        self._parts.add(rows, self._encode(rows))

    def finish(self, agency_rows: Sequence[Sequence[Any]]) -> list[Part]:
        """Return the parts (the per-agency summary is in the XLSX only)."""
        return self._parts.finish([])

    def discard(self) -> None:
        """Delete every file."""
        self._parts.discard()
