"""The readings file import: streamed, validated row by row by the same rules as one submitted reading, written in
chunks with the batch's counts.

A chunk's context is read in a few queries (its meters, their installations, their readings of the lookback
window), every row is checked by `validate_reading` with the priors `_store_reading` would query for it (the rows
before it in the file included), and the chunk's readings, their first history versions and their audit events
are written in bulk (COPY on PostgreSQL). tests/integration/readings/test_import.py checks that a file gives the
codes and statuses the same readings submitted one by one give.
"""
from __future__ import annotations

import bisect
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application import bulk
from gridcounter.application.batches import ChunkCounts, Progress, finish_batch, open_batch, run_chunks
from gridcounter.application.cells import NUL, date_problem, nul_columns, nul_reason, shown
from gridcounter.application.readings._readings import (
    FILE_SEEN,
    IMPORTABLE_SOURCES,
    REGISTERS,
    SITE_VISIT_CODES,
    InstalledRecord,
    ReadingInputError,
    _check_fields,
    _order_site_visit,
    check_swaps_on,
    installation_on,
    installations_of,
    local_date,
    parse_read_at,
    parse_value,
    priors_since,
    reading_check,
    select_priors,
    status_with,
    targets_and_priors,
    validation_rules,
)
from gridcounter.application.tabular import Row, open_tabular
from gridcounter.data.audit.context import Actor, acting_as, current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.imports.models import ImportBatch, RejectedRow
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account, Meter
from gridcounter.domain.business_time import BUSINESS_TZ, business_date
from gridcounter.domain.horizon import EARLIEST_DATE
from gridcounter.domain.readings.codes import Code, finding
from gridcounter.domain.readings.validation import Thresholds, validate_reading
from gridcounter.domain.readings.validation_frame import (
    PRIOR_SCHEMA,
    TARGET_SCHEMA,
    checks_from_readings,
    clear_rows,
)

COLUMNS = ["meter", "register", "read_at", "value", "source"]
EARLIEST_MOMENT = datetime.combine(EARLIEST_DATE, time(0), BUSINESS_TZ)
CHUNK_ROWS = 5000


@dataclass
class ImportResult:
    batch_id: int
    file_name: str
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: int = 0
    flagged: int = 0
    held: int = 0
    codes: dict = field(default_factory=dict)
    rejected_rows: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"batch": self.batch_id, "file": self.file_name, "rows": self.rows, "created": self.created,
                "unchanged": self.unchanged, "rejected": self.rejected, "flagged": self.flagged,
                "held": self.held, "codes": self.codes, "rejected_rows": self.rejected_rows}


def _parse_row(values: dict, meters: dict[str, Meter], as_of: datetime):
    """The row's meter, register, read_at, value and source, or its problems [(column, reason)]."""
    nul = nul_columns(values)
    if nul:  # no further look at the row: PostgreSQL refuses such text even in a query
        return None, [(column, nul_reason()) for column in nul]
    errors: list[tuple[str, str]] = []
    asset = values.get("meter", "")
    meter = meters.get(asset)
    if meter is None:
        errors.append(("meter", _("unknown meter “%(value)s”") % {"value": shown(asset)} if asset
                       else _("meter is empty")))
    register = values.get("register", "").upper()
    if register not in REGISTERS:
        errors.append(("register", _("register “%(value)s” is not one of %(allowed)s")
                       % {"value": shown(values.get("register", "")), "allowed": ", ".join(REGISTERS)}))
    source = values.get("source", "").upper()
    if source not in IMPORTABLE_SOURCES:
        errors.append(("source", _("source “%(value)s” is not one of %(allowed)s")
                       % {"value": shown(values.get("source", "")), "allowed": ", ".join(IMPORTABLE_SOURCES)}))
    read_at = value = None
    try:
        read_at = parse_read_at(values.get("read_at", ""))
        if read_at > as_of:
            errors.append(("read_at", _("read_at %(value)s is in the future") % {"value": shown(values["read_at"])}))
        elif read_at < EARLIEST_MOMENT:
            errors.append(("read_at", date_problem(read_at.date(), today=business_date(as_of))))
    except ReadingInputError as exc:
        errors.append((exc.field, str(exc)))
    try:
        value = parse_value(values.get("value", ""))
        if value < 0:
            errors.append(("value", _("value %(value)s is negative") % {"value": shown(str(value))}))
    except ReadingInputError as exc:
        errors.append((exc.field, str(exc)))
    return (meter, register, read_at, value, source), errors


def _known_meters(rows: list[Row]) -> dict[str, Meter]:
    """The meters the rows name (asset number -> Meter); names no meter could carry are not looked up."""
    limit = Meter._meta.get_field("asset_number").max_length
    assets = {a for a in (row.values.get("meter", "") for row in rows) if a and NUL not in a and len(a) <= limit}
    return {m.asset_number: m for m in Meter.objects.filter(asset_number__in=assets)} if assets else {}


@dataclass
class _Candidate:
    row: Row
    meter: Meter
    register: str
    read_at: datetime
    value: Decimal
    source: str
    read_date: date


class _ChunkContext:
    """What `_store_reading` would query for each reading of a chunk, read at once for all of them and kept up to
    date as the chunk's readings are taken in (a row sees the rows before it, as if they were stored)."""

    def __init__(self, candidates: list[_Candidate], *, rules: Thresholds):
        meter_ids = {c.meter.pk for c in candidates}
        first = min(c.read_date for c in candidates) - timedelta(days=rules.lookback_days)
        last = max(c.read_date for c in candidates)
        self.installs = installations_of(meter_ids)
        self.accepted: dict[tuple[int, str], list[tuple]] = defaultdict(list)  # (read_at, read_date, value, est.)
        self.exact: set[tuple] = set()  # (meter, register, read_at, value) of every stored reading
        self.live_at: dict[tuple, Decimal] = {}  # (meter, register, read_at) -> the value of a live reading
        self.estimates: dict[tuple, int] = {}  # (meter, register, read_date) -> an accepted estimate's id
        for pk, meter_id, register, read_at, read_date, value, is_estimate, status in (
                Reading.objects.filter(meter_id__in=meter_ids, read_date__gte=first, read_date__lte=last)
                .order_by("read_at", "pk").values_list("pk", "meter_id", "register", "read_at", "read_date", "value",
                                                       "is_estimate", "status")):
            self.exact.add((meter_id, register, read_at, value))
            if status in (Reading.Status.ACCEPTED, Reading.Status.HELD):
                self.live_at.setdefault((meter_id, register, read_at), value)
            if status == Reading.Status.ACCEPTED:
                self.accepted[(meter_id, register)].append((read_at, read_date, value, is_estimate))
                if is_estimate:
                    self.estimates.setdefault((meter_id, register, read_date), pk)

    def take(self, c: _Candidate, *, status: str) -> None:
        """The reading of `c` is stored with `status`: later rows see it."""
        key = (c.meter.pk, c.register)
        self.exact.add((*key, c.read_at, c.value))
        if status in (Reading.Status.ACCEPTED, Reading.Status.HELD):
            self.live_at.setdefault((*key, c.read_at), c.value)
        if status == Reading.Status.ACCEPTED:
            bisect.insort(self.accepted[key], (c.read_at, c.read_date, c.value, False), key=lambda r: r[0])

    def supersede(self, c: _Candidate) -> int | None:
        """The accepted estimate an actual reading of `c` replaces (no longer a prior), or None."""
        estimate = self.estimates.pop((c.meter.pk, c.register, c.read_date), None)
        if estimate is not None:
            rows = self.accepted[(c.meter.pk, c.register)]
            rows[:] = [r for r in rows if not (r[1] == c.read_date and r[3])]
        return estimate


def _validated(c: _Candidate, context: _ChunkContext, *, rules: Thresholds) -> tuple[list, InstalledRecord | None]:
    """The findings of `c`, exactly as `_store_reading` would find them, and the installation it is on."""
    installation = installation_on(context.installs.get(c.meter.pk, []), day=c.read_date)
    since = priors_since(before=c.read_at, installation=installation, rules=rules)
    priors = select_priors(context.accepted.get((c.meter.pk, c.register), []), before=c.read_at, since=since,
                           installation=installation, register=c.register)
    findings = validate_reading(reading_check(
        meter=c.meter, read_date=c.read_date, value=c.value, priors=priors, has_account=installation is not None,
        route_day=installation.route_day if installation else None,
        account_status=installation.account_status if installation else None), rules=rules)
    other = context.live_at.get((c.meter.pk, c.register, c.read_at))
    if other is not None:
        findings.append(finding(Code.DUPLICATE, other_value=other, value=c.value))
    return findings, installation


def _clear(fresh: list[_Candidate], context: _ChunkContext, *, rules: Thresholds
           ) -> tuple[list[bool], list[InstalledRecord | None]]:
    """For each new row of the chunk (in file order): True when `validate_reading` certainly finds nothing for it,
    had every row before it in the file been accepted (`validation_frame.clear_rows` over the frames of
    `checks_from_readings`), and the installation it is on."""
    installations = [installation_on(context.installs.get(c.meter.pk, []), day=c.read_date) for c in fresh]
    rows = [(c.meter.pk, c.register, c.meter.digits, c.read_at, c.read_date, c.value, installation, FILE_SEEN + i)
            for i, (c, installation) in enumerate(zip(fresh, installations, strict=True))]
    targets, priors = targets_and_priors(rows, context.accepted, rules=rules)
    for name in ("key", "seen", "read_at", "read_date", "value_c"):
        priors[name].extend(targets[name])  # the file's rows before a row are its priors too, as if accepted
    priors["is_estimate"].extend([False] * len(fresh))
    checks, cycles = checks_from_readings(pl.DataFrame(targets, schema=TARGET_SCHEMA),
                                          pl.DataFrame(priors, schema=PRIOR_SCHEMA))
    return clear_rows(checks, cycles, rules=rules).to_list(), installations


def _import_chunk(rows: list[Row], counts: ChunkCounts, *, batch: ImportBatch, rules: Thresholds,
                  as_of: datetime, reference: bool = False) -> None:
    """Validate and store the chunk's readings, then look for swapped meters among the accounts they touched."""
    meters = _known_meters(rows)
    candidates: list[_Candidate] = []
    for row in rows:
        parsed, errors = _parse_row(row.values, meters, as_of)
        if not errors:
            meter, register, read_at, value, source = parsed
            try:
                _check_fields(meter=meter, register=register, value=value, source=source, sources=IMPORTABLE_SOURCES)
            except ReadingInputError as exc:
                errors.append((exc.field, str(exc)))
            else:
                candidates.append(_Candidate(row, meter, register, read_at, value, source, local_date(read_at)))
                continue
        counts.reject(row, ",".join(dict.fromkeys(c for c, _r in errors)), "; ".join(r for _c, r in errors))
    if not candidates:
        return
    context = _ChunkContext(candidates, rules=rules)
    actor = current_actor()
    user_id = getattr(actor.user, "pk", None)
    username = getattr(actor.user, "username", "") or actor.name
    stamp = timezone.now()
    readings, events, visits, superseded = [], [], [], []
    touched: dict[date, set[int]] = defaultdict(set)
    fresh = []  # the rows not stored already (as `take` will note them, before the rules see any)
    for c in candidates:
        exact = (c.meter.pk, c.register, c.read_at, c.value)
        if exact in context.exact:
            counts.unchanged += 1
        else:
            context.exact.add(exact)
            fresh.append(c)
    clear, installations = ([False] * len(fresh), [None] * len(fresh)) if reference else _clear(
        fresh, context, rules=rules)
    # A clear row has no finding as long as the rows of its meter and register before it were accepted and replaced
    # no estimate; from the first that was not, its rows go through the reference in order (`_validated`).
    departed: set[tuple[int, str]] = set()
    for c, is_clear, installation in zip(fresh, clear, installations, strict=True):
        key = (c.meter.pk, c.register)
        if (is_clear and key not in departed and (*key, c.read_at) not in context.live_at
                and (*key, c.read_date) not in context.estimates):
            findings = []
        else:
            findings, installation = _validated(c, context, rules=rules)
        status = status_with(findings, status=Reading.Status.ACCEPTED, rules=rules)
        replaced = context.supersede(c)
        context.take(c, status=status)
        if status != Reading.Status.ACCEPTED or replaced is not None:
            departed.add(key)
        codes = [f.code for f in findings]
        account_id = installation.account_id if installation else None
        readings.append({
            "meter_id": c.meter.pk, "account_id": account_id, "register": c.register, "read_at": c.read_at,
            "read_date": c.read_date, "value": c.value, "source": c.source, "is_estimate": False, "status": status,
            "codes": bulk.json_text(codes), "findings": bulk.json_text([f.as_dict() for f in findings]), "note": "",
            "supersedes_id": replaced, "import_batch_id": batch.pk, "client_key": None, "created_at": as_of})
        events.append({
            "occurred_at": stamp, "action": "READING_RECEIVED", "user_id": user_id, "username": username,
            "hall_id": actor.hall_id, "channel": actor.channel, "object_type": Reading._meta.label,
            "reason": actor.reason, "ip_address": None, "detail": {
                "meter": c.meter.asset_number, "register": c.register, "read_date": c.read_date.isoformat(),
                "value": str(c.value), "source": c.source, "status": status, "codes": codes,
                "account": installation.account_number if installation else None, "supersedes": replaced}})
        if replaced is not None:
            superseded.append(replaced)
        if account_id is not None:
            touched[c.read_date].add(account_id)
            visits.extend((len(readings) - 1, account_id, f) for f in findings if f.code in SITE_VISIT_CODES)
        counts.created += 1
        if findings:
            counts.tally("flagged")
            for code in codes:
                counts.tally(f"code:{code}")
        if status == Reading.Status.HELD:
            counts.tally("held")
    _write(readings, events, actor=actor, user_id=user_id, stamp=stamp)
    for reading in Reading.objects.filter(pk__in=superseded):
        reading.status = Reading.Status.SUPERSEDED
        reading.save(update_fields=["status"])
    for index, account_id, found in visits:
        account = Account.objects.get(pk=account_id)
        reading = Reading.objects.get(pk=readings[index]["id"])
        _order_site_visit(account=account, meter=reading.meter, code=found.code, ordered_date=local_date(as_of),
                          reading=reading, detail=found.numbers, created_at=as_of)
    if touched:
        accounts = Account.objects.select_related("premise").in_bulk({pk for ids in touched.values() for pk in ids})
        for pair_codes in check_swaps_on(touched={day: [accounts[pk] for pk in ids] for day, ids in touched.items()},
                                         rules=rules, screen=not reference):
            for code in pair_codes:
                counts.tally(f"code:{code}")


def _write(readings: list[dict], events: list[dict], *, actor: Actor, user_id, stamp: datetime) -> None:
    """The chunk's readings, their "+" history versions (as simple-history would stamp them) and their events."""
    if not readings:
        return
    ids = bulk.insert_rows(Reading, readings, assign_ids=True)
    history = {"history_date": stamp, "history_user_id": user_id,
               "history_change_reason": (actor.reason or "")[:100] or None, "history_type": "+",
               "history_hall_id": actor.hall_id, "history_channel": actor.channel}
    bulk.insert_rows(Reading.history.model, [{**row, **history} for row in readings])
    for event, pk in zip(events, ids, strict=True):
        event["object_id"] = str(pk)
        event["detail"] = bulk.json_text(event["detail"])
    bulk.insert_rows(AuditEvent, events)


def _rejected_rows(batch: ImportBatch) -> list[dict]:
    out = []
    for r in RejectedRow.objects.filter(batch=batch).order_by("line"):
        columns, reasons = r.column.split(","), r.reason.split("; ")
        errors = (list(zip(columns, reasons, strict=True)) if len(columns) == len(reasons)
                  else [(r.column, r.reason)])
        out.append({"line": r.line, "column": r.column, "reason": r.reason,
                    "errors": [{"column": c, "reason": why} for c, why in errors], "row": r.raw})
    return out


def import_readings(*, path: str | Path, actor: Actor, as_of: datetime, progress: Progress | None = None,
                    chunk_rows: int = CHUNK_ROWS, reference: bool | None = None) -> ImportResult:
    """Import a UTF-8 CSV or Excel file of readings (columns meter, register, read_at, value, source).

    The file is read as a stream and committed `chunk_rows` rows at a time, each chunk with the batch's counts; a
    bad row leaves nothing and is kept as a RejectedRow with its line, column(s) and reason. A stopped import of
    the same file is continued after its last committed line; re-importing a finished file changes nothing.
    ``as_of`` (aware) stamps the batch and refuses readings from the future. ``progress(lines_done, lines)`` is
    called after each chunk. ``reference`` (default: the environment variable GRIDCOUNTER_IMPORT_REFERENCE=1)
    sends every row through `validate_reading` one by one, without the frame form that decides most rows at once:
    the same results, for the tests and the bench that show it.

    Raises TabularFileError (the file cannot be read at all), OSError, RulesError.
    """
    rules = validation_rules()
    if reference is None:
        reference = os.environ.get("GRIDCOUNTER_IMPORT_REFERENCE") == "1"
    table = open_tabular(path, required=COLUMNS)
    bulk.prepare_connection()
    with acting_as(actor):
        batch, resumed = open_batch(kind=ImportBatch.Kind.READINGS, table=table, imported_at=as_of,
                                    user=actor.user if getattr(actor.user, "pk", None) else None)
        run_chunks(batch=batch, table=table, size=chunk_rows, progress=progress,
                   do_chunk=lambda rows, counts: _import_chunk(rows, counts, batch=batch, rules=rules, as_of=as_of,
                                                                reference=reference))
        batch = finish_batch(batch)
        tallies = batch.tallies or {}
        result = ImportResult(
            batch_id=batch.pk, file_name=table.name, rows=batch.rows_total, created=batch.rows_created,
            unchanged=batch.rows_unchanged, rejected=batch.rows_rejected, flagged=tallies.get("flagged", 0),
            held=tallies.get("held", 0),
            codes=dict(sorted((k.removeprefix("code:"), v) for k, v in tallies.items() if k.startswith("code:"))),
            rejected_rows=_rejected_rows(batch))
        record_event(action="READINGS_IMPORTED", obj=batch, detail={
            **{k: v for k, v in result.as_dict().items() if k != "rejected_rows"}, "continued": resumed})
    return result


__all__ = ["COLUMNS", "ImportResult", "import_readings"]
