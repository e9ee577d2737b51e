"""Read a UTF-8 CSV or an Excel (.xlsx) file with a header row as a stream of numbered rows.

The whole file is checked before the first row is handed out (readable, not empty, UTF-8 or a sound .xlsx, the
header naming the required columns), so a file that cannot be read is refused before anything is written; its
rows are then read one at a time, never all at once.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK = 1 << 20
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}

csv.field_size_limit(1 << 24)  # a long cell is a row error (its column's length), not a file the reader gives up on


class TabularFileError(ValueError):
    """The file as a whole cannot be read (missing, empty, not UTF-8, a damaged .xlsx, missing required columns)."""


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line number in the file, the header being line 1
    values: dict[str, str]  # column name -> text, stripped; empty string when blank


@dataclass(frozen=True)
class TabularFile:
    path: Path
    name: str
    sha256: str
    columns: list[str]
    lines: int  # lines (CSV) or rows (Excel) in the file, the header included: the progress bar's total

    def rows(self) -> Iterator[Row]:
        """The rows after the header, blank ones skipped, each once, read as they are asked for."""
        source = _xlsx_rows(self.path) if self.path.suffix.lower() in EXCEL_SUFFIXES else _csv_rows(self.path)
        next(source, None)  # the header, checked when the file was opened
        width = len(self.columns)
        for line, raw in enumerate(source, start=2):
            if not any(raw):
                continue  # blank line
            padded = list(raw) + [""] * (width - len(raw))
            yield Row(line=line, values={c: padded[i] for i, c in enumerate(self.columns) if c})


def _cell_text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            for raw in workbook.worksheets[0].iter_rows(values_only=True):
                yield [_cell_text(v) for v in raw]
        finally:
            workbook.close()
    except (OSError, KeyError, IndexError, ValueError, zipfile.BadZipFile, SyntaxError) as exc:
        raise TabularFileError(f"{path.name}: not a readable Excel file ({exc})") from None


def _csv_rows(path: Path) -> Iterator[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for raw in csv.reader(handle):
            yield [v.strip() for v in raw]


def _check_bytes(path: Path, *, text: bool) -> tuple[str, int]:
    """The file's SHA-256 and its number of lines, read once in blocks; a CSV must decode as UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = offset = 0
    try:
        with open(path, "rb") as handle:
            while block := handle.read(BLOCK):
                digest.update(block)
                lines += block.count(b"\n")
                if text:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError as exc:
                        raise TabularFileError(f"{path.name}: not UTF-8 text (byte {offset + exc.start}); save the "
                                               f"file as UTF-8 CSV") from None
                offset += len(block)
            if text:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    raise TabularFileError(f"{path.name}: not UTF-8 text (it ends inside a character); save the file "
                                           f"as UTF-8 CSV") from None
    except OSError as exc:
        raise TabularFileError(f"{path}: {exc.strerror or exc}") from None
    if offset == 0:
        raise TabularFileError(f"{path.name}: the file is empty; the first line must name the columns")
    return digest.hexdigest(), lines + 1


def open_tabular(path: str | Path, *, required: list[str]) -> TabularFile:
    """Check the file as a whole and return it, its rows still unread.

    Raises TabularFileError naming what is wrong when it cannot be read (missing, empty, not UTF-8, a damaged
    Excel file, a header without the required columns).
    """
    path = Path(path)
    is_excel = path.suffix.lower() in EXCEL_SUFFIXES
    sha256, lines = _check_bytes(path, text=not is_excel)
    if is_excel:
        try:
            with zipfile.ZipFile(path) as archive:
                broken = archive.testzip()  # every member's checksum: a truncated file is refused here
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise TabularFileError(f"{path.name}: not a readable Excel file ({exc})") from None
        if broken is not None:
            raise TabularFileError(f"{path.name}: not a readable Excel file (damaged part {broken})")
    source = _xlsx_rows(path) if is_excel else _csv_rows(path)
    try:
        header = next(source, None)
    finally:
        source.close()
    if header is None or not any(header):
        raise TabularFileError(f"{path.name}: the file is empty; the first line must name the columns")
    columns = [c.strip().lower() for c in header]
    missing = [c for c in required if c not in columns]
    if missing:
        raise TabularFileError(f"{path.name}: line 1: missing column(s) {', '.join(missing)}")
    if is_excel:
        lines = _xlsx_dimension(path) or lines
    return TabularFile(path=path, name=path.name, sha256=sha256, columns=columns, lines=lines)


def _xlsx_dimension(path: Path) -> int | None:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True)
        try:
            return workbook.worksheets[0].max_row
        finally:
            workbook.close()
    except Exception:  # noqa: BLE001 - only the progress bar's total depends on it
        return None
