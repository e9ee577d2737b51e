"""Read a UTF-8 CSV or an Excel (.xlsx) file with a header row into numbered rows."""
from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class TabularFileError(ValueError):
    """The file as a whole cannot be read (not UTF-8, no header, missing required columns)."""


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line number in the file, the header being line 1
    values: dict[str, str]  # column name -> text, stripped; empty string when blank


@dataclass(frozen=True)
class TabularFile:
    name: str
    sha256: str
    columns: list[str]
    rows: list[Row]


def _cell_text(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheet = workbook.worksheets[0]
    for raw in sheet.iter_rows(values_only=True):
        yield [_cell_text(v) for v in raw]


def _csv_rows(data: bytes, name: str) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TabularFileError(f"{name}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 CSV") from exc
    for raw in csv.reader(io.StringIO(text, newline="")):
        yield [v.strip() for v in raw]


def read_tabular(path: str | Path, *, required: list[str]) -> TabularFile:
    """Read the file; raise TabularFileError naming what is wrong when it cannot be read at all."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TabularFileError(f"{path}: {exc.strerror}") from exc
    is_excel = path.suffix.lower() in {".xlsx", ".xlsm"}
    source = _xlsx_rows(data) if is_excel else _csv_rows(data, path.name)
    try:
        header = next(source)
    except StopIteration:
        raise TabularFileError(f"{path.name}: the file is empty; the first line must name the columns") from None
    columns = [c.strip().lower() for c in header]
    missing = [c for c in required if c not in columns]
    if missing:
        raise TabularFileError(f"{path.name}: line 1: missing column(s) {', '.join(missing)}")
    rows = []
    for line, raw in enumerate(source, start=2):
        if not any(raw):
            continue  # blank line
        padded = list(raw) + [""] * (len(columns) - len(raw))
        rows.append(Row(line=line, values={c: padded[i] for i, c in enumerate(columns) if c}))
    return TabularFile(name=path.name, sha256=hashlib.sha256(data).hexdigest(), columns=columns, rows=rows)
