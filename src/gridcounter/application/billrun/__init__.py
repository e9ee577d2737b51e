"""The bill run's kernel engine: routes in batches as Polars frames, the vectorised kernel, bulk writes.

Same rules and same bills as `gridcounter.application.billing` (the per-account run, the reference):

- accounts whose period is plain (one installation over the whole period, fixed-day readings found, accepted
  and actual, no rollover, no change of tariff or category in the period, no bill yet) are rated by
  `domain.tariffs.rating_frame.rate_frame` and explained by `domain.billing.explanation_frame`;
- every other account (meter exchange, missed, held or estimated readings, rollover, category change, a rating
  the kernel leaves to `rate()`, a bill held before the run) is drafted by the reference rules (`gather_inputs` +
  `draft_bill`) and written by the same writer; the run summary counts both;
- accounts with 15-minute intervals stored for the period (docs/intervals.md) are billed from their binned
  intervals;
- each batch re-drafts a sample of its kernel-rated bills through the reference and refuses to commit on a
  difference (`_check`).

One transaction per batch: bills, history rows, lines, journal entries and postings land together or not at
all; a rerun bills exactly the accounts without a live bill (the unique constraint `bill_one_live_per_period`
is the last guard) and re-validates held ones.

Its parts, one job each, in the order a batch goes through them:

    _scheduling  a whole run: batches of whole routes; threads (PostgreSQL) or read-ahead (SQLite)
    _reader      the process that reads, rates and stages the next batch of a SQLite run
    _batch       one batch's transaction: routes locked, prepared, written, posted, audited
    _frames      a batch read as frames: one query per table
    _usage       from readings to usage: which periods are plain, kWh per register
    _drafting    bills drafted: kernel-rated from the frames, the rest by the reference rules
    _check       the reference check of a sample of each batch
    _json        JSON text of the JSON fields it writes
    _rows        the rows a batch writes, with ids allocated in its transaction (COPY, executemany, staged)
    _summary     what a run billed, held and skipped
    _cluster     the same run on a Dask cluster

The public names below are imported on first use: the reading process and the Dask worker import `_reader` and
`_cluster` (and so this package) before Django is set up.
"""
from __future__ import annotations

from importlib import import_module

_PUBLIC = {
    "RunSummary": "_summary", "KERNEL": "_summary", "REFERENCE": "_summary", "ENGINES": "_summary",
    "run_bills": "_scheduling", "plan_batches": "_scheduling", "default_threads": "_scheduling",
    "can_read_ahead": "_scheduling", "BATCH_ACCOUNTS": "_scheduling", "READERS": "_scheduling",
    "run_batch": "_batch", "run_route": "_batch",
    "PreparedBatch": "_drafting", "prepare_batch": "_drafting",
    "load_routes": "_frames", "query_frame": "_frames",
    "RowActor": "_rows", "STAGE": "_rows", "copy_frame": "_rows", "row_counts": "_rows", "run_rows": "_rows",
    "stage_rows": "_rows", "write_frames": "_rows",
    "ReferenceCheck": "_check", "ReferenceMismatch": "_check", "check_against_reference": "_check",
    "sample_accounts": "_check",
    "ClusterNeedsSharedDatabase": "_cluster", "run_bills_cluster": "_cluster",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
