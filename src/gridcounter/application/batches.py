"""Import batches committed in chunks, so that their counts are true at every moment and a stopped import continues.

An import opens the batch of its file (`open_batch`: the stopped one with the same kind and SHA-256, else a new one)
and reads the file in chunks of rows (`pending_chunks`: only the lines after the batch's `lines_done`). Each chunk is
one transaction: `lock_batch` first (a second run of the same file waits, then skips what the first did), the rows,
then `commit_chunk` adds the chunk's counts, its rejected rows and its last line to the batch. Killed at any moment,
the database holds whole chunks and a batch that counts exactly them; the same file imported again finishes it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from gridcounter.application.cells import printable, printable_row
from gridcounter.application.tabular import Row, TabularFile
from gridcounter.data.imports.models import ImportBatch, RejectedRow

__all__ = ["ChunkCounts", "Progress", "commit_chunk", "finish_batch", "lock_batch", "open_batch", "pending_chunks",
           "run_chunks"]

Progress = Callable[[int, int], None]  # (lines done, lines in the file), after each committed chunk


@dataclass
class ChunkCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[Row, str, str]] = field(default_factory=list)  # (row, column, reason)
    tallies: dict[str, int] = field(default_factory=dict)  # further counts, added to the batch's tallies

    def reject(self, row: Row, column: str, reason: str) -> None:
        self.rejected.append((row, column, reason))

    def count(self, outcome: str) -> None:
        """Count one imported row by its outcome: CREATED, UPDATED or (anything else) unchanged."""
        if outcome == "CREATED":
            self.created += 1
        elif outcome == "UPDATED":
            self.updated += 1
        else:
            self.unchanged += 1

    def tally(self, key: str, count: int = 1) -> None:
        self.tallies[key] = self.tallies.get(key, 0) + count


def open_batch(*, kind: str, table: TabularFile, imported_at: datetime, user) -> tuple[ImportBatch, bool]:
    """The stopped batch of this file to continue (True), else a new batch (False)."""
    stopped = ImportBatch.objects.filter(kind=kind, file_sha256=table.sha256, completed_at__isnull=True).first()
    if stopped is not None:
        return stopped, True
    try:
        with transaction.atomic():
            return ImportBatch.objects.create(kind=kind, file_name=table.name[:300], file_sha256=table.sha256,
                                              imported_at=imported_at, imported_by=user), False
    except IntegrityError:  # another run of the same file opened it a moment ago: continue that one
        return ImportBatch.objects.get(kind=kind, file_sha256=table.sha256, completed_at__isnull=True), True


def pending_chunks(table: TabularFile, *, after: int, size: int) -> Iterator[list[Row]]:
    """The file's rows after line `after`, in lists of at most `size`."""
    chunk: list[Row] = []
    for row in table.rows():
        if row.line <= after:
            continue
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def lock_batch(batch: ImportBatch) -> ImportBatch:
    """The batch as committed, locked until the caller's transaction ends (PostgreSQL; SQLite's writer lock)."""
    return ImportBatch.objects.select_for_update().get(pk=batch.pk)


def commit_chunk(batch: ImportBatch, *, last_line: int, counts: ChunkCounts) -> None:
    """Add a chunk's counts, rejected rows and last line to the locked `batch`, in the caller's transaction."""
    RejectedRow.objects.bulk_create([
        RejectedRow(batch=batch, line=row.line, column=column[:64], reason=printable(reason),
                    raw=printable_row(row.values))
        for row, column, reason in counts.rejected])
    tallies = dict(batch.tallies or {})
    for key, count in counts.tallies.items():
        tallies[key] = tallies.get(key, 0) + count
    done = counts.created + counts.updated + counts.unchanged + len(counts.rejected)
    ImportBatch.objects.filter(pk=batch.pk).update(
        rows_total=F("rows_total") + done, rows_created=F("rows_created") + counts.created,
        rows_updated=F("rows_updated") + counts.updated, rows_unchanged=F("rows_unchanged") + counts.unchanged,
        rows_rejected=F("rows_rejected") + len(counts.rejected), lines_done=last_line, tallies=tallies)


def finish_batch(batch: ImportBatch) -> ImportBatch:
    """Mark the batch complete (every line of its file imported); returns it as stored."""
    ImportBatch.objects.filter(pk=batch.pk, completed_at__isnull=True).update(completed_at=timezone.now())
    return ImportBatch.objects.get(pk=batch.pk)


def run_chunks(*, batch: ImportBatch, table: TabularFile, size: int, progress: Progress | None,
               do_chunk: Callable[[list[Row], ChunkCounts], None]) -> None:
    """Import the rows not yet done, one transaction per chunk: lock, `do_chunk(rows, counts)`, commit the counts."""
    for chunk in pending_chunks(table, after=batch.lines_done, size=size):
        with transaction.atomic():
            locked = lock_batch(batch)
            rows = [row for row in chunk if row.line > locked.lines_done]  # a parallel run of the file did the rest
            if rows:
                counts = ChunkCounts()
                do_chunk(rows, counts)
                commit_chunk(locked, last_line=rows[-1].line, counts=counts)
        if progress is not None:
            progress(chunk[-1].line, table.lines)
