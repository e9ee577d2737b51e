"""The rows a batch writes, table by table, with the ids allocated in its transaction; COPY, executemany or staged."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from django.db import connection

from gridcounter.application import ledger
from gridcounter.application.bulk import allocate_column_ids
from gridcounter.data.audit.context import current_actor
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.billing.models import Bill, BillLine
from gridcounter.data.ledger.models import JournalEntry, Posting
from gridcounter.domain.billing.periods import (
    BillingPeriod,
)
from gridcounter.domain.ledger import (
    SEALED_FIELDS,
    UnbalancedEntry,
    bill_posting_template,
    unbalanced_entries,
)


def copy_frame(model_or_table, frame: pl.DataFrame) -> None:
    """Insert `frame` (columns named as the table's columns) in one COPY (PostgreSQL, CSV text from Polars, no
    Python object per row) or one executemany (SQLite)."""
    table = model_or_table if isinstance(model_or_table, str) else model_or_table._meta.db_table
    if frame.is_empty():
        return
    qn = connection.ops.quote_name
    names = ", ".join(qn(n) for n in frame.columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            data = frame.write_csv(include_header=False, null_value="\\N", datetime_format="%Y-%m-%d %H:%M:%S%.f%z")
            with cursor.cursor.copy(f"COPY {qn(table)} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
                copy.write(data.encode())
        else:
            marks = ", ".join(["?"] * frame.width)
            raw = cursor.cursor  # the sqlite3 cursor: no per-row placeholder rewriting
            raw.executemany(f"INSERT INTO {qn(table)} ({names}) VALUES ({marks})", frame.iter_rows())


def _date_col(value: date | None) -> pl.Expr:
    if value is None:
        return pl.lit(None, dtype=pl.String if connection.vendor == "sqlite" else pl.Date)
    return pl.lit(value.isoformat()) if connection.vendor == "sqlite" else pl.lit(value)


def _dates(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    if connection.vendor != "sqlite":
        return frame
    return frame.with_columns([pl.col(n).dt.strftime("%Y-%m-%d") for n in names])


def stamp_text(value: datetime) -> str:
    """A timestamp as each backend takes it (SQLite: naive UTC text; PostgreSQL: text with offset)."""
    if connection.vendor == "sqlite":
        return str(connection.ops.adapt_datetimefield_value(value))
    return value.astimezone(UTC).isoformat()


def _stamp(value: datetime) -> pl.Expr:
    return pl.lit(stamp_text(value))


@dataclass(frozen=True)
class RowActor:
    """Who the run's rows name (history, entries, audit events), as plain values a reading process can be given."""

    user_id: int | None = None
    username: str = ""
    hall_id: int | None = None
    channel: str = "SYSTEM"
    reason: str = ""

    @classmethod
    def current(cls) -> RowActor:
        actor = current_actor()
        return cls(user_id=actor.user_id, username=actor.username, hall_id=actor.hall_id,
                   channel=actor.channel, reason=actor.reason)


# The tables a batch writes, in write order, and their columns made from the batch's new ids. In `run_rows` frames
# such a column holds a relative id (0 for the batch's first row of that kind); `absolute_rows` (Polars) and
# `insert_staged` (SQL) add the ids allocated in the writing transaction. A column given as (kind, tail) is text:
# the frame holds the text before the id, and the relative id in "<column>__id"; the id and `tail` follow it.
# Kind "run" is the route's BillRun, looked up by route id.
RUN_TABLES: dict[str, dict[str, str | tuple[str, str]]] = {
    Bill._meta.db_table: {"id": "bill", "run_id": "run"},
    Bill.history.model._meta.db_table: {"id": "bill", "history_id": "history", "run_id": "run"},
    BillLine._meta.db_table: {"id": "line", "bill_id": "bill"},
    JournalEntry._meta.db_table: {"id": "entry", "source_id": ("bill", ""), "idempotency_key": ("bill", "")},
    AuditEvent._meta.db_table: {"id": "event", "object_id": ("entry", ""), "detail": ("bill", '"}')},
    Posting._meta.db_table: {"id": "posting", "entry_id": "entry"},
}


TABLE_COLUMNS = {m._meta.db_table: [f.column for f in m._meta.concrete_fields]
                 for m in (Bill, Bill.history.model, BillLine, JournalEntry, AuditEvent, Posting)}


# the kind of each allocated id: its table and column (each row of that table draws one)
ID_KINDS = {"bill": (Bill._meta.db_table, "id"), "history": (Bill.history.model._meta.db_table, "history_id"),
            "line": (BillLine._meta.db_table, "id"), "entry": (JournalEntry._meta.db_table, "id"),
            "event": (AuditEvent._meta.db_table, "id"), "posting": (Posting._meta.db_table, "id")}


STAGE = "bill_run_stage"  # the schema name a staged batch's file is attached under


# what a re-drafted held bill's history version says (simple-history's change reason)
REDRAFT_REASON = "bill run: held bill re-validated"


def run_rows(*, bills: pl.DataFrame, lines: pl.DataFrame, route_of: pl.DataFrame, billing: BillingPeriod,
             as_of: date, created_at: datetime, due_days: int, actor: RowActor,
             redraft: bool = False) -> dict[str, pl.DataFrame]:
    """A batch's rows for each of RUN_TABLES, with relative ids: bills (and their history rows), lines, and for
    issued bills the journal entry, its audit event and two postings. The entries are those `ledger.post_bills`
    writes (key `bill:<id>`). `bills` in write order; `route_of` gives (account_id, route_id, number). Pure: no
    database access, so that a reading process can make them.

    `redraft`: the bills are held bills drafted again (`write_redrafts`); `bills` also holds each one's
    created_at (`stamp_text`) and replaces_id, kept, and their history versions are changes ("~")."""
    c = pl.col
    n = bills.height
    bills = bills.with_columns(pl.int_range(n, dtype=pl.Int64).alias("id")).join(
        route_of, on="account_id", how="left", maintain_order="left")
    issued = c("status") == "ISSUED"
    due = as_of + timedelta(days=due_days)
    when = _stamp(created_at)
    made = c("created_at") if redraft else when
    replaces = c("replaces_id").cast(pl.Int64) if redraft else pl.lit(None, dtype=pl.Int64)
    change_reason = REDRAFT_REASON if redraft else (actor.reason or "bill run")
    bill_table = bills.select(
        "id", "account_id", pl.lit(billing.period).alias("period"), _date_col(billing.start_date).alias("start_date"),
        _date_col(billing.end_date).alias("end_date"), "status", "tariff_id", "kwh", "amount_fen", "is_estimate",
        "hold_codes", "readings", "explanation", "facts",
        pl.when(issued).then(_date_col(as_of)).otherwise(_date_col(None)).alias("issued_date"),
        pl.when(issued).then(_date_col(due)).otherwise(_date_col(None)).alias("due_date"),
        replaces.alias("replaces_id"), c("route_id").alias("run_id"), made.alias("created_at"))
    history = bill_table.with_columns(
        pl.lit(actor.hall_id, dtype=pl.Int64).alias("history_hall_id"), pl.lit(actor.channel).alias("history_channel"),
        c("id").alias("history_id"), when.alias("history_date"),
        pl.lit(change_reason[:100]).alias("history_change_reason"),
        pl.lit("~" if redraft else "+").alias("history_type"),
        pl.lit(actor.user_id, dtype=pl.Int64).alias("history_user_id"))
    line_table = lines.join(bills.select("account_id", c("id").alias("bill_id")), on="account_id").sort(
        "bill_id", "position")
    line_table = _dates(line_table.with_columns(pl.int_range(line_table.height, dtype=pl.Int64).alias("id")),
                        ["segment_start_date", "segment_end_date"])
    posted = bills.filter(issued)
    posted = posted.with_columns(pl.int_range(posted.height, dtype=pl.Int64).alias("entry_id"))
    entries = posted.select(
        c("entry_id").alias("id"), pl.lit(JournalEntry.Kind.BILL.value).alias("kind"), "account_id",
        _date_col(as_of).alias("effective_date"), when.alias("created_at"),
        pl.lit(f"Bill {billing.period}"[:300]).alias("description"), pl.lit("billing.Bill").alias("source_type"),
        pl.lit("").alias("source_id"), c("id").alias("source_id__id"), pl.lit(None, dtype=pl.Int64).alias("reverses_id"),
        pl.lit("bill:").alias("idempotency_key"), c("id").alias("idempotency_key__id"),
        pl.lit(actor.user_id, dtype=pl.Int64).alias("created_by_id"), pl.lit(actor.hall_id, dtype=pl.Int64)
        .alias("hall_id"), pl.lit(actor.reason, dtype=pl.String).alias("reason"))
    number = c("number").str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    template = bill_posting_template()  # the ledger's rule for a bill's postings (`ledger.bill_lines`)
    signed = [(code, customer, c("amount_fen") if sign > 0 else -c("amount_fen")) for code, customer, sign in template]
    postings_json = []
    for k, (code, customer, amount) in enumerate(signed):
        postings_json += [pl.lit(("" if k == 0 else ", ") + f'["{code}", ' + ('"' if customer else "null, "))]
        postings_json += [number, pl.lit('", ')] if customer else []
        postings_json += [amount.cast(pl.String), pl.lit("]")]
    events = posted.select(
        c("entry_id").alias("id"), when.alias("occurred_at"), pl.lit("LEDGER_ENTRY_POSTED").alias("action"),
        pl.lit(actor.user_id, dtype=pl.Int64).alias("user_id"), pl.lit(actor.username).alias("username"),
        pl.lit(actor.hall_id, dtype=pl.Int64).alias("hall_id"), pl.lit(actor.channel).alias("channel"),
        pl.lit(JournalEntry._meta.label).alias("object_type"), pl.lit("").alias("object_id"),
        c("entry_id").alias("object_id__id"), pl.lit(actor.reason, dtype=pl.String).alias("reason"),
        pl.concat_str([pl.lit('{"kind": "BILL", "account": "'), number,
                       pl.lit(f'", "effective_date": "{as_of.isoformat()}", "postings": ['), *postings_json,
                       pl.lit('], "source": "billing.Bill:')]).alias("detail"),
        c("id").alias("detail__id"), pl.lit(None, dtype=pl.String).alias("ip_address"))
    postings = pl.concat([
        posted.select(c("entry_id"), pl.lit(code).alias("ledger_account"),
                      c("account_id") if customer else pl.lit(None, dtype=pl.Int64).alias("account_id"),
                      amount.alias("amount_fen"), pl.lit(k).alias("_k"))
        for k, (code, customer, amount) in enumerate(signed)]).sort("entry_id", "_k").drop("_k")
    bad = unbalanced_entries(postings)  # `check_balanced` on every entry of the batch, before anything is written
    if bad:
        first = posted.filter(c("entry_id") == bad[0][0])["number"][0]
        raise UnbalancedEntry(f"bill run {billing.period}: {len(bad)} bills' entries do not balance; account "
                              f"{first}'s has {bad[0][1]} postings summing to {bad[0][2]:+d} fen")
    postings = postings.with_columns(pl.int_range(postings.height, dtype=pl.Int64).alias("id"))
    frames = dict(zip(RUN_TABLES, (bill_table, history, line_table, entries, events, postings), strict=True))
    return {table: frame.select(_staged_columns(table)) for table, frame in frames.items()}


def _staged_columns(table: str) -> list[str]:
    """The columns of a `run_rows` frame: the table's, each text column made from an id followed by its id."""
    names = []
    for column in TABLE_COLUMNS[table]:
        names.append(column)
        kind = RUN_TABLES[table].get(column)
        if kind is not None and _id_parts(column, kind)[1] is not None:
            names.append(f"{column}__id")
    return names


def _id_parts(column: str, kind: str | tuple[str, str]) -> tuple[str, str | None, str]:
    """(kind of id, text after it or None for an id column, the frame column holding the relative id)."""
    if isinstance(kind, str):
        return kind, None, column
    return kind[0], kind[1], f"{column}__id"


def row_counts(rows: Mapping[str, pl.DataFrame]) -> dict[str, int]:
    return {table: frame.height for table, frame in rows.items()}


def allocate_run_ids(counts: Mapping[str, int]) -> dict[str, Sequence[int]]:
    """Fresh ids of each kind for a batch whose RUN_TABLES hold `counts` rows, inside the writing transaction."""
    return {kind: allocate_column_ids(table, column, counts[table])
            for kind, (table, column) in ID_KINDS.items()}


def absolute_rows(table: str, frame: pl.DataFrame, *, ids: Mapping[str, Sequence[int]],
                  runs: Mapping[int, int]) -> pl.DataFrame:
    """A `run_rows` frame with the allocated ids in place of the relative ones, in the table's columns."""
    c = pl.col
    columns = []
    for column, kind in RUN_TABLES[table].items():
        base, tail, relative_column = _id_parts(column, kind)
        relative = c(relative_column)
        if base == "run":
            value = relative.replace_strict(dict(runs), return_dtype=pl.Int64)
        elif isinstance(ids[base], range):
            value = relative + ids[base].start
        else:  # PostgreSQL, when someone else drew from the sequence meanwhile
            value = pl.lit(pl.Series(list(ids[base]), dtype=pl.Int64)).gather(relative)
        if tail is not None:
            value = pl.concat_str([c(column), value.cast(pl.String), pl.lit(tail)])
        columns.append(value.alias(column))
    return frame.with_columns(columns).select(TABLE_COLUMNS[table])


def stage_rows(path: str, rows: Mapping[str, pl.DataFrame]) -> None:
    """Write `run_rows` frames into a new SQLite file at `path`, one table each, through ADBC (values bound from
    Arrow columns in C, not one Python call per row). No journal, no sync: a scratch file, thrown away after use."""
    import adbc_driver_sqlite.dbapi as adbc

    for suffix in ("", "-journal"):
        Path(path + suffix).unlink(missing_ok=True)
    with adbc.connect(path, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode = OFF")
        cursor.execute("PRAGMA synchronous = OFF")
        for table, frame in rows.items():
            cursor.adbc_ingest(table, frame.to_arrow(compat_level=pl.CompatLevel.oldest()), mode="create")


def insert_staged(counts: Mapping[str, int], *, ids: Mapping[str, Sequence[int]], runs: Mapping[int, int]) -> None:
    """SQLite: copy a staged batch (`stage_rows`, attached as STAGE) into the run tables, one INSERT … SELECT per
    table, with the allocated ids (consecutive under the write lock) added to the relative ones."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for table, spec in RUN_TABLES.items():
            if not counts[table]:
                continue
            select = []
            for column in TABLE_COLUMNS[table]:
                kind = spec.get(column)
                if kind is None:
                    select.append(qn(column))
                    continue
                base, tail, relative_column = _id_parts(column, kind)
                relative = qn(relative_column)
                if base == "run":
                    value = f"CASE {relative}{''.join(f' WHEN {int(r)} THEN {int(i)}' for r, i in runs.items())} END"
                elif isinstance(ids[base], range):  # SQLite allocates above max(id), under the write lock
                    value = f"({relative} + {int(ids[base].start)})"
                else:
                    raise ValueError(f"{base} ids are not consecutive")
                if tail is not None:
                    value = f"{qn(column)} || {value}" + (" || '{}'".format(tail.replace("'", "''")) if tail else "")
                select.append(value)
            names = ", ".join(qn(n) for n in TABLE_COLUMNS[table])
            raw.execute(f"INSERT INTO main.{qn(table)} ({names}) SELECT {', '.join(select)} "
                        f"FROM {STAGE}.{qn(table)} ORDER BY rowid")


def _seal(entries: pl.DataFrame, postings: pl.DataFrame, *, as_of: date, created_at: datetime) -> None:
    """The batch's entries into their accounts' hash chains, from the rows just written (`ledger.seal_written`):
    the dates as the values `run_rows` wrote (each backend's text of them aside), the rest as in the frames."""
    by_entry: dict[int, list] = {}
    for entry_id, code, account_id, amount in postings.select("entry_id", "ledger_account", "account_id",
                                                              "amount_fen").iter_rows():
        by_entry.setdefault(entry_id, []).append((code, account_id, amount))
    rows = entries.select(
        [c for c in SEALED_FIELDS if c not in ("effective_date", "created_at")]).sort("account_id", "id")
    ledger.seal_written([{**row, "effective_date": as_of, "created_at": created_at} for row in rows.iter_rows(
        named=True)], by_entry)


def write_frames(*, bills: pl.DataFrame, lines: pl.DataFrame, runs: dict[int, int], route_of: pl.DataFrame,
                 billing: BillingPeriod, as_of: date, created_at: datetime, due_days: int,
                 staged: Mapping[str, int] | None = None) -> pl.DataFrame:
    """Write a batch's bills and their rows (`run_rows`): made here and written with COPY / executemany, or, with
    `staged` (the row counts of a batch a reading process staged, attached as STAGE), copied from the stage.
    `runs` maps route id to its BillRun id. Returns the bills with their route_id."""
    if staged is None:
        rows = run_rows(bills=bills, lines=lines, route_of=route_of, billing=billing, as_of=as_of,
                        created_at=created_at, due_days=due_days, actor=RowActor.current())
        ids = allocate_run_ids(row_counts(rows))
        written = {}
        for table, frame in rows.items():
            written[table] = absolute_rows(table, frame, ids=ids, runs=runs)
            copy_frame(table, written[table])
        _seal(written[JournalEntry._meta.db_table], written[Posting._meta.db_table], as_of=as_of,
              created_at=created_at)
    else:
        ids = allocate_run_ids(staged)
        insert_staged(staged, ids=ids, runs=runs)
        ledger.seal_entries(ids["entry"][:staged[JournalEntry._meta.db_table]])  # read back from the stage's copy
    return bills.join(route_of, on="account_id", how="left", maintain_order="left")


def write_redrafts(*, bills: pl.DataFrame, lines: pl.DataFrame, kept: pl.DataFrame, runs: dict[int, int],
                   route_of: pl.DataFrame, billing: BillingPeriod, as_of: date, created_at: datetime,
                   due_days: int) -> pl.DataFrame:
    """Write held bills drafted again in their batch by the rows a new bill gets (`run_rows`, `redraft`): each
    bill row updated in place (its id, created_at and replaces_id kept, from `kept`: account_id, id, created_at,
    replaces_id), a change version in its history, its lines redrawn (a held bill was never issued; the history
    keeps the old amount), and for those now issued the entry, audit event and postings, sealed. COPY on
    PostgreSQL, executemany on SQLite. Returns the bills with their route_id."""
    bills = bills.join(kept, on="account_id", how="left", maintain_order="left")
    rows = run_rows(bills=bills.drop("id"), lines=lines, route_of=route_of, billing=billing, as_of=as_of,
                    created_at=created_at, due_days=due_days, actor=RowActor.current(), redraft=True)
    bill_table = Bill._meta.db_table
    counts = {**row_counts(rows), bill_table: 0}  # the bills keep their ids: none drawn
    ids = {**allocate_run_ids(counts), "bill": bills["id"].to_list()}
    written = {table: absolute_rows(table, frame, ids=ids, runs=runs) for table, frame in rows.items()}
    update_frame(bill_table, written[bill_table])
    bill_ids = written[bill_table]["id"].to_list()
    with connection.cursor() as cursor:
        for start in range(0, len(bill_ids), 1000):
            chunk = bill_ids[start:start + 1000]
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(BillLine._meta.db_table)} WHERE bill_id IN "
                           f"({', '.join(['%s'] * len(chunk))})", chunk)
    for table, frame in written.items():
        if table != bill_table:
            copy_frame(table, frame)
    _seal(written[JournalEntry._meta.db_table], written[Posting._meta.db_table], as_of=as_of, created_at=created_at)
    return bills.drop("id", "created_at", "replaces_id").join(route_of, on="account_id", how="left",
                                                              maintain_order="left")


def update_frame(table: str, frame: pl.DataFrame) -> None:
    """Update the rows of `table` whose id the frame's rows hold with the frame's other columns: PostgreSQL, one
    COPY into a temporary copy of the table and one UPDATE … FROM it; SQLite, one executemany."""
    if frame.is_empty():
        return
    qn = connection.ops.quote_name
    columns = [n for n in frame.columns if n != "id"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = "gridcounter_update_stage"
            cursor.execute(f"CREATE TEMPORARY TABLE {stage} (LIKE {qn(table)})")
            try:
                copy_frame(stage, frame)
                assignments = ", ".join(f"{qn(n)} = s.{qn(n)}" for n in columns)
                cursor.execute(f"UPDATE {qn(table)} AS t SET {assignments} FROM {stage} AS s WHERE t.id = s.id")
            finally:
                cursor.execute(f"DROP TABLE {stage}")
        else:
            assignments = ", ".join(f"{qn(n)} = ?" for n in columns)
            cursor.cursor.executemany(f"UPDATE {qn(table)} SET {assignments} WHERE id = ?",
                                      frame.select(*columns, "id").iter_rows())
