"""Readings in: single submission, validation before billing (VEE), estimates and catch-up (file import: _import)."""
from __future__ import annotations

import bisect
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import itemgetter
from pathlib import Path

import polars as pl
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, F, Q
from django.db.models.functions import Cast, Round
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.cells import shown
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event
from gridcounter.data.imports.models import ImportBatch
from gridcounter.data.readings.models import Reading, ReviewItem, SiteVisitOrder
from gridcounter.data.registry.models import Account, Installation, Meter
from gridcounter.domain import written
from gridcounter.domain.business_time import BUSINESS_TZ
from gridcounter.domain.readings.codes import Code, Finding, finding, finding_from_dict
from gridcounter.domain.readings.estimation import (
    CatchUp,
    NoHistoryForEstimate,
    catch_up,
    consecutive_estimates,
    estimate_reading,
)
from gridcounter.domain.readings.swap import SwapCandidate, detect_swaps
from gridcounter.domain.readings.swap_frame import CANDIDATE_SCHEMA, possible_groups
from gridcounter.domain.readings.validation import (
    CycleReading,
    CycleResult,
    PriorReading,
    ReadingCheck,
    Thresholds,
    check_estimate_streak,
    cycles_from_readings,
    expected_consumption,
    validate_reading,
)
from gridcounter.domain.readings.validation import validate_cycle as domain_validate_cycle
from gridcounter.domain.readings.validation_frame import (
    PRIOR_SCHEMA,
    TARGET_SCHEMA,
    centi,
    checks_from_readings,
    expected_bounds,
)

IMPORTABLE_SOURCES = (Reading.Source.AMI, Reading.Source.HANDHELD, Reading.Source.CUSTOMER)
REGISTERS = tuple(Reading.Register.values)  # read once: the enum builds the list anew on every access
DIALS = {digits: Decimal(10) ** digits for digits in range(4, 11)}
SUBMITTABLE_SOURCES = (*IMPORTABLE_SOURCES, Reading.Source.CORRECTION)
LIVE = Q(status__in=[Reading.Status.ACCEPTED, Reading.Status.HELD])
# codes the rules recompute from the readings; the others (DUPLICATE, SWAP_SUSPECTED, ...) stay once found
RECOMPUTED = {Code.DECREASE, Code.ROLLOVER, Code.SPIKE, Code.HIGH, Code.LOW, Code.ZERO_STREAK, Code.OFF_SCHEDULE}
SITE_VISIT_CODES = {Code.ZERO_STREAK, Code.ESTIMATE_STREAK}


class ReadingInputError(ValueError):
    """A reading's field is invalid; ``field`` names it (meter, register, read_at, value, source)."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


class ClientKeyConflict(ValueError):
    """The client idempotency key was already used for a different reading."""


class ReadingExists(ValueError):
    """An actual reading already exists for that meter, register and day: nothing to estimate."""


class EstimateRefused(Exception):
    """Another estimate would exceed the limit of estimates in a row; a site visit has been ordered."""

    def __init__(self, finding: Finding, *, order: SiteVisitOrder):
        super().__init__(finding.reason_en)
        self.finding = finding
        self.order = order


class NoReading(LookupError):
    """There is no such reading."""


# ---- rules --------------------------------------------------------------------------------------------


def load_validation_rules(*, path: str | Path) -> Thresholds:
    """Read the thresholds file. Raises OSError, tomllib.TOMLDecodeError, RulesError."""
    with open(path, "rb") as handle:
        return Thresholds.from_mapping(tomllib.load(handle))


@lru_cache(maxsize=4)
def _cached_rules(path: str, mtime: float) -> Thresholds:
    return load_validation_rules(path=path)


def validation_rules() -> Thresholds:
    """The thresholds in force: the file named by settings.GRIDCOUNTER_VALIDATION_RULES (reread on change)."""
    path = Path(settings.GRIDCOUNTER_VALIDATION_RULES)
    return _cached_rules(str(path), path.stat().st_mtime)


# ---- outcome ------------------------------------------------------------------------------------------


@dataclass
class ReadingOutcome:
    reading: Reading
    created: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    @property
    def held(self) -> bool:
        return self.reading.status == Reading.Status.HELD

    def reasons(self, language: str) -> list[dict]:
        return [{"code": f.code, "severity": f.severity, "numbers": f.numbers, "reason": f.reason(language)}
                for f in self.findings]


def stored_findings(reading: Reading) -> list[Finding]:
    return [finding_from_dict(d) for d in reading.findings or []]


# ---- helpers ------------------------------------------------------------------------------------------


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai business date of an aware timestamp."""
    return moment.astimezone(BUSINESS_TZ).date()


def parse_read_at(text: str) -> datetime:
    """ISO 8601; local Asia/Shanghai time unless an offset is given. Returns UTC. Raises ReadingInputError."""
    raw = (text or "").strip()
    if not raw:
        raise ReadingInputError(_("read_at is empty"), field="read_at")
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T", 1) if "T" not in raw and " " in raw else raw)
    except ValueError:
        raise ReadingInputError(
            _("read_at “%(value)s” is not an ISO 8601 date and time (e.g. 2026-11-15T09:30)") % {"value": raw},
            field="read_at")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BUSINESS_TZ)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 next to the edge of the calendar
        raise ReadingInputError(_("read_at “%(value)s” is not a possible date and time") % {"value": shown(raw)},
                                field="read_at") from None


def parse_value(text: str) -> Decimal:
    """A register value as text, by the one rule for numbers written as text (`domain.written`): ASCII or
    full-width digits and at most one point; "1,000", "1_000", "1e3" are refused."""
    try:
        return Decimal(written.ascii_number((text or "").strip()))
    except (written.NotWritten, InvalidOperation):
        raise ReadingInputError(_("value “%(value)s” is not a number") % {"value": shown(text or "")},
                                field="value") from None


def _check_fields(*, meter: Meter, register: str, value: Decimal, source: str, sources) -> None:
    if register not in REGISTERS:
        raise ReadingInputError(
            _("register “%(value)s” is not one of %(allowed)s")
            % {"value": register, "allowed": ", ".join(REGISTERS)}, field="register")
    if meter.registers and register not in meter.registers:
        raise ReadingInputError(
            _("meter %(meter)s has no %(register)s register (it has %(allowed)s)")
            % {"meter": meter.asset_number, "register": register, "allowed": ", ".join(meter.registers)},
            field="register")
    if source not in sources:
        raise ReadingInputError(
            _("source “%(value)s” is not one of %(allowed)s")
            % {"value": source, "allowed": ", ".join(str(s) for s in sources)}, field="source")
    if value < 0:
        raise ReadingInputError(_("value %(value)s is negative") % {"value": value}, field="value")
    if value.as_tuple().exponent < -2:
        raise ReadingInputError(_("value %(value)s has more than 2 decimal places") % {"value": value},
                                field="value")
    if value >= (DIALS.get(meter.digits) or Decimal(10) ** meter.digits):
        raise ReadingInputError(
            _("value %(value)s has more digits than the meter's %(digits)s-digit dial")
            % {"value": value, "digits": meter.digits}, field="value")


def installation_at(*, meter: Meter, day: date) -> Installation | None:
    """The installation of ``meter`` covering ``day`` (half-open [installed_date, removed_date))."""
    return (Installation.objects.filter(meter=meter, installed_date__lte=day)
            .filter(Q(removed_date__isnull=True) | Q(removed_date__gt=day))
            .select_related("account__route", "account__premise").order_by("-installed_date").first())


def account_installation_at(*, account: Account, day: date) -> Installation | None:
    return (Installation.objects.filter(account=account, installed_date__lte=day)
            .filter(Q(removed_date__isnull=True) | Q(removed_date__gt=day))
            .select_related("meter").order_by("-installed_date").first())


def _priors(*, meter_id: int, register: str, before: datetime, installation: Installation | None,
            rules: Thresholds) -> list[PriorReading]:
    """Accepted readings of this meter and register before ``before`` on this installation, oldest first,
    starting with the installation's initial reading when there is one."""
    since = priors_since(before=before, installation=installation, rules=rules)
    rows = (Reading.objects.filter(meter_id=meter_id, register=register, status=Reading.Status.ACCEPTED,
                                   read_at__lt=before, read_date__gte=since)
            .order_by("read_at").values_list("read_at", "read_date", "value", "is_estimate"))
    return select_priors(list(rows), before=before, since=since, installation=installation, register=register)


def priors_since(*, before: datetime, installation, rules: Thresholds) -> date:
    """The first day whose readings count as priors of a reading at ``before``: the lookback, not before the
    installation."""
    since = local_date(before) - timedelta(days=rules.lookback_days)
    if installation is not None:
        since = max(since, installation.installed_date)
    return since


def select_priors(accepted: list[tuple], *, before: datetime, since: date, installation, register: str
                  ) -> list[PriorReading]:
    """The priors of a reading at ``before`` among ``accepted`` (read_at, read_date, value, is_estimate), the
    accepted readings of its meter and register ordered by read_at: those before it from ``since`` on, after
    the installation's initial reading."""
    end = bisect.bisect_left(accepted, before, key=itemgetter(0))  # those before it: a prefix of the ordered rows
    priors = [PriorReading(read_date=d, value=v, is_estimate=e) for _at, d, v, e in accepted[:end] if d >= since]
    return _with_initial(priors, installation=installation, register=register, since=since)


def _with_initial(priors: list[PriorReading], *, installation: Installation | None, register: str,
                  since: date) -> list[PriorReading]:
    if installation is None or installation.installed_date < since:
        return priors
    initial = (installation.initial_readings or {}).get(register)
    if initial in (None, ""):
        return priors
    if priors and priors[0].read_date <= installation.installed_date:
        return priors
    return [PriorReading(read_date=installation.installed_date, value=Decimal(str(initial))), *priors]


def _check_for(*, meter: Meter, read_date: date, value: Decimal, priors: list[PriorReading],
               installation: Installation | None) -> ReadingCheck:
    account = installation.account if installation else None
    return reading_check(
        meter=meter, read_date=read_date, value=value, priors=priors, has_account=account is not None,
        route_day=account.route.reading_day if account is not None and account.route_id else None,
        account_status=account.status if account is not None else None)


def reading_check(*, meter: Meter, read_date: date, value: Decimal, priors: list[PriorReading], has_account: bool,
                  route_day: int | None, account_status: str | None) -> ReadingCheck:
    """What the rules need about a new reading of ``meter``, its priors and the account it serves."""
    return ReadingCheck(
        read_date=read_date, value=value, digits=meter.digits,
        previous=priors[-1] if priors else None,
        history=cycles_from_readings(priors, digits=meter.digits),
        route_day=route_day, has_account=has_account,
        account_active=has_account and account_status == Account.Status.ACTIVE,
        meter=meter.asset_number, multiplier=meter.multiplier,
    )


def _order_site_visit(*, account: Account, meter: Meter | None, code: str, ordered_date: date,
                      reading: Reading | None, detail: dict, created_at: datetime) -> SiteVisitOrder:
    """Open an on-site check/reading for ``account`` unless one is already open for the same reason."""
    existing = SiteVisitOrder.objects.filter(account=account, reason_code=code,
                                             status=SiteVisitOrder.Status.OPEN).first()
    if existing:
        return existing
    order = SiteVisitOrder.objects.create(account=account, meter=meter, reason_code=code, ordered_date=ordered_date,
                                          reading=reading, detail=detail, created_at=created_at)
    record_event(action="SITE_VISIT_ORDERED", obj=order, detail={"account": account.number, "code": code, **detail})
    return order


def order_site_visit(*, account: Account, code: str, ordered_date: date, detail: dict, created_at: datetime,
                     meter: Meter | None = None) -> SiteVisitOrder:
    """Open an on-site reading or check for `account` (once per open reason); audited."""
    return _order_site_visit(account=account, meter=meter, code=code, ordered_date=ordered_date, reading=None,
                             detail=detail, created_at=created_at)


def _apply_findings(reading: Reading, findings: list[Finding], rules: Thresholds) -> None:
    reading.status = status_with(findings, status=reading.status, rules=rules)
    reading.codes = [f.code for f in findings]
    reading.findings = [f.as_dict() for f in findings]


def status_with(findings: list[Finding], *, status: str, rules: Thresholds) -> str:
    """A reading's status once it carries ``findings``: an accepted one is HELD by a blocking code."""
    if any(rules.is_blocking(f.code) for f in findings) and status == Reading.Status.ACCEPTED:
        return Reading.Status.HELD
    return status


# ---- one reading --------------------------------------------------------------------------------------


def _store_reading(*, meter: Meter, register: str, read_at: datetime, value: Decimal, source: str,
                   client_key: str | None, note: str, batch: ImportBatch | None, received_at: datetime,
                   rules: Thresholds, sources=SUBMITTABLE_SOURCES) -> ReadingOutcome:
    """Validate and store one reading; the caller holds the transaction and the actor."""
    if timezone.is_naive(read_at):
        raise ReadingInputError(_("read_at must carry a time zone"), field="read_at")
    value = Decimal(value)
    _check_fields(meter=meter, register=register, value=value, source=source, sources=sources)
    if client_key:
        existing = Reading.objects.filter(client_key=client_key).first()
        if existing is not None:
            if (existing.meter_id, existing.register, existing.read_at, existing.value) == (
                    meter.pk, register, read_at, value):
                return ReadingOutcome(reading=existing, created=False, findings=stored_findings(existing))
            raise ClientKeyConflict(_("client_key %(key)s was already used for another reading") % {"key": client_key})
    same = Reading.objects.filter(meter=meter, register=register, read_at=read_at, value=value).first()
    if same is not None:
        return ReadingOutcome(reading=same, created=False, findings=stored_findings(same))
    read_date = local_date(read_at)
    installation = installation_at(meter=meter, day=read_date)
    priors = _priors(meter_id=meter.pk, register=register, before=read_at, installation=installation, rules=rules)
    findings = validate_reading(_check_for(meter=meter, read_date=read_date, value=value, priors=priors,
                                           installation=installation), rules=rules)
    other = Reading.objects.filter(LIVE, meter=meter, register=register, read_at=read_at).first()
    if other is not None:
        findings.append(finding(Code.DUPLICATE, other_value=other.value, value=value))
    is_actual = source != Reading.Source.ESTIMATE
    replaced = None
    if is_actual:
        replaced = Reading.objects.filter(meter=meter, register=register, read_date=read_date, is_estimate=True,
                                          status=Reading.Status.ACCEPTED).first()
    reading = Reading(
        meter=meter, account=installation.account if installation else None, register=register, read_at=read_at,
        read_date=read_date, value=value, source=source, is_estimate=False, note=note, import_batch=batch,
        client_key=client_key or None, created_at=received_at, supersedes=replaced,
    )
    _apply_findings(reading, findings, rules)
    try:
        with transaction.atomic():
            reading.save()
    except IntegrityError:
        # a concurrent copy of the same reading (or of the same client key) won the race: it is the same reading
        same = Reading.objects.filter(Q(meter=meter, register=register, read_at=read_at, value=value)
                                      | (Q(client_key=client_key) if client_key else Q(pk__in=[]))).first()
        if same is None:
            raise
        return ReadingOutcome(reading=same, created=False, findings=stored_findings(same))
    if replaced is not None:
        replaced.status = Reading.Status.SUPERSEDED
        replaced.save(update_fields=["status"])
    record_event(action="READING_RECEIVED", obj=reading, detail={
        "meter": meter.asset_number, "register": register, "read_date": read_date.isoformat(),
        "value": str(value), "source": source, "status": reading.status, "codes": reading.codes,
        "account": reading.account.number if reading.account else None,
        "supersedes": replaced.pk if replaced else None,
    })
    for f in findings:
        if f.code in SITE_VISIT_CODES and reading.account is not None:
            _order_site_visit(account=reading.account, meter=meter, code=f.code, ordered_date=local_date(received_at),
                              reading=reading, detail=f.numbers, created_at=received_at)
    return ReadingOutcome(reading=reading, created=True, findings=findings)


def submit_reading(*, meter: Meter, register: str, read_at: datetime, value, source: str, actor: Actor,
                   client_key: str | None = None, note: str = "", received_at: datetime | None = None
                   ) -> ReadingOutcome:
    """Store one reading (counter, handheld, API) and validate it at once.

    Resending the same reading (or the same ``client_key``) stores nothing new. A different value for the
    same meter, register and time is stored HELD with DUPLICATE. ``received_at`` is the record-keeping
    timestamp (defaults to the moment of storing; no business rule depends on it).

    Raises ReadingInputError (field named), ClientKeyConflict.
    """
    rules = validation_rules()
    received_at = received_at or timezone.now()
    with acting_as(actor), transaction.atomic():
        outcome = _store_reading(meter=meter, register=register, read_at=read_at, value=value, source=source,
                                 client_key=client_key, note=note, batch=None, received_at=received_at, rules=rules)
        if outcome.created and outcome.reading.account_id:
            check_swaps(accounts=[outcome.reading.account], fixed_date=outcome.reading.read_date, rules=rules)
            outcome.reading.refresh_from_db()
            outcome.findings = stored_findings(outcome.reading)
    return outcome


@dataclass
class InstalledRecord:
    """An installation as the rules see it (`installation_on`, `priors_since`, `_with_initial`, `reading_check`),
    read without model instances."""

    meter_id: int
    installed_date: date
    removed_date: date | None
    initial_readings: dict
    account_id: int
    account_number: str
    account_status: str
    route_day: int | None


def installations_of(meter_ids: Iterable[int]) -> dict[int, list[InstalledRecord]]:
    """The installations of the meters (meter id -> its installations), one query."""
    out: dict[int, list[InstalledRecord]] = defaultdict(list)
    for values in Installation.objects.filter(meter_id__in=meter_ids).values_list(
            "meter_id", "installed_date", "removed_date", "initial_readings", "account_id", "account__number",
            "account__status", "account__route__reading_day"):
        out[values[0]].append(InstalledRecord(*values))
    return out


# ---- swapped meters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Current:
    pk: int
    meter_id: int
    read_at: datetime
    read_date: date
    value: Decimal


@dataclass
class _Gathered:
    """What the swap check reads about the accounts of its buildings, a few queries for all of them and the days."""

    wanted: dict[date, set]  # day -> (account id, register) with a reading on that day
    current: dict[tuple[int, str], dict[date, tuple[int, _Current]]]  # -> read_date -> (place in read_at order, ...)
    digits: dict[int, int]
    installs: dict[int, list[InstalledRecord]]
    accepted: dict[tuple[int, str], list[tuple]]  # (meter, register) -> (read_at, read_date, value, is_estimate)
    window: range  # the days around a day whose readings are its cycle's end


def _gather(*, account_ids: list[int], days: list[date], rules: Thresholds) -> _Gathered | None:
    tol = timedelta(days=rules.schedule_tolerance_days)
    wanted: dict[date, set] = defaultdict(set)
    for account_id, register, day in (Reading.objects.filter(account_id__in=account_ids, read_date__in=days)
                                      .values_list("account_id", "register", "read_date").distinct()):
        wanted[day].add((account_id, register))
    if not wanted:
        return None
    current: dict[tuple[int, str], dict[date, tuple[int, _Current]]] = defaultdict(dict)
    meter_ids = set()
    for place, (pk, account_id, register, *values) in enumerate(
            Reading.objects.filter(LIVE, account_id__in=account_ids, is_estimate=False,
                                   read_date__gte=min(days) - tol, read_date__lte=max(days) + tol)
            .order_by("read_at", "pk").values_list("pk", "account_id", "register", "meter_id", "read_at",
                                                   "read_date", "value")):
        reading = _Current(pk, *values)
        current[(account_id, register)][reading.read_date] = (place, reading)
        meter_ids.add(reading.meter_id)
    accepted: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for meter_id, register, *values in (
            Reading.objects.filter(meter_id__in=meter_ids, status=Reading.Status.ACCEPTED,
                                   read_date__gte=min(days) - tol - timedelta(days=rules.lookback_days),
                                   read_date__lte=max(days) + tol)
            .order_by("read_at", "pk")
            .values_list("meter_id", "register", "read_at", "read_date", "value", "is_estimate")):
        accepted[(meter_id, register)].append(tuple(values))
    return _Gathered(wanted=wanted, current=current,
                     digits=dict(Meter.objects.filter(pk__in=meter_ids).values_list("pk", "digits")),
                     installs=installations_of(meter_ids), accepted=accepted,
                     window=range(-rules.schedule_tolerance_days, rules.schedule_tolerance_days + 1))


def _ends(gathered: _Gathered, *, keep=None):
    """(day, account id, register, the current reading of the cycle ending near that day): the latest in read_at
    order within the window, for each (account, register) with a reading on the day; only those ``keep(day,
    account id, register)`` allows."""
    for day, keys in gathered.wanted.items():
        for account_id, register in keys:
            if keep is not None and not keep(day, account_id, register):
                continue
            by_date = gathered.current.get((account_id, register), {})
            near = [by_date[d] for d in (day + timedelta(days=n) for n in gathered.window) if d in by_date]
            if near:
                yield day, account_id, register, max(near, key=itemgetter(0))[1]


def _latest_cycles(gathered: _Gathered, *, rules: Thresholds, keep=None) -> dict[date, dict]:
    """Per day: (account id, register) -> (current reading, previous accepted reading, expected kWh) of the cycle
    ending near that day (`_ends`), for the registers each account has a reading of on it (what `_priors` would
    query for each current reading, read at once)."""
    out: dict[date, dict] = {day: {} for day in gathered.wanted}
    for day, account_id, register, curr in _ends(gathered, keep=keep):
        installation = installation_on(gathered.installs.get(curr.meter_id, []), day=curr.read_date)
        since = priors_since(before=curr.read_at, installation=installation, rules=rules)
        priors = select_priors(gathered.accepted.get((curr.meter_id, register), []), before=curr.read_at,
                               since=since, installation=installation, register=register)
        if not priors:
            continue
        history = cycles_from_readings(priors, digits=gathered.digits[curr.meter_id])
        expectation = expected_consumption(history=history, start_date=priors[-1].read_date,
                                           end_date=curr.read_date, rules=rules)
        out[day][(account_id, register)] = (curr, priors[-1], expectation.kwh if expectation else Decimal(0))
    return out


def since_and_initial(*, installation, read_date: date, register: str, rules: Thresholds
                      ) -> tuple[date, date | None, Decimal | None]:
    """For a reading on ``read_date``: the first day of its priors (`priors_since`), and the day and value of the
    installation's initial reading when `select_priors` would count it (else None, None)."""
    since = read_date - timedelta(days=rules.lookback_days)
    if installation is None:
        return since, None, None
    since = max(since, installation.installed_date)
    initial = (installation.initial_readings or {}).get(register)
    if installation.installed_date < since or initial in (None, ""):
        return since, None, None
    return since, installation.installed_date, Decimal(str(initial))


FILE_SEEN = 1 << 40  # what a reading sees (`checks_from_readings`): stored readings first, then a file's rows


def targets_and_priors(rows: list[tuple], accepted: dict[tuple[int, str], list[tuple]], *, rules: Thresholds
                       ) -> tuple[dict[str, list], dict[str, list]]:
    """The columns of `validation_frame.checks_from_readings` for ``rows`` (meter id, register, digits, read_at,
    read_date, value, installation, seen) and their priors among ``accepted`` ((meter id, register) -> (read_at,
    read_date, value, is_estimate) in read_at order, seen in that order)."""
    keys: dict[tuple[int, str], int] = {}
    targets: dict[str, list] = {name: [] for name in TARGET_SCHEMA}
    for meter_id, register, digits, read_at, read_date, value, installation, seen in rows:
        since, initial_date, initial = since_and_initial(installation=installation, read_date=read_date,
                                                         register=register, rules=rules)
        for name, v in (("key", keys.setdefault((meter_id, register), len(keys))), ("seen", seen),
                        ("read_at", read_at), ("read_date", read_date), ("value_c", centi(value)), ("since", since),
                        ("dial_c", 10 ** digits * 100), ("initial_date", initial_date),
                        ("initial_c", None if initial is None else centi(initial)),
                        ("has_account", installation is not None),
                        ("route_day", installation.route_day if installation else None)):
            targets[name].append(v)
    priors: dict[str, list] = {name: [] for name in PRIOR_SCHEMA}
    for key, index in keys.items():
        for seen, (read_at, read_date, value, is_estimate) in enumerate(accepted.get(key, [])):
            for name, v in (("key", index), ("seen", seen), ("read_at", read_at), ("read_date", read_date),
                            ("value_c", centi(value)), ("is_estimate", is_estimate)):
                priors[name].append(v)
    return targets, priors


def _frame(rows, schema: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=schema, orient="row")


IN_CENTS = Cast(Round(F("value") * 100), BigIntegerField())  # values are stored to 0.01: exact in cents


def _possible_swaps(*, account_ids: list[int], days: list[date], building_of: dict[int, tuple], rules: Thresholds
                    ) -> set[tuple]:
    """The (day, building, register) groups where `detect_swaps` may find a pair, worked out as columns from the
    readings `_gather` reads (`swap_frame.possible_groups` over `expected_bounds` of the cycles `_ends` and
    `_latest_cycles` take); the other groups certainly have none."""
    tol, register_no = rules.schedule_tolerance_days, {r: n for n, r in enumerate(REGISTERS)}
    wanted = _frame(Reading.objects.filter(account_id__in=account_ids, read_date__in=days)
                    .values_list("account_id", "register", "read_date").distinct(),
                    {"account_id": pl.Int64, "register": pl.String, "day": pl.Date})
    current = _frame(Reading.objects.filter(LIVE, account_id__in=account_ids, is_estimate=False,
                                            read_date__gte=min(days) - timedelta(days=tol),
                                            read_date__lte=max(days) + timedelta(days=tol))
                     .order_by("read_at", "pk").annotate(value_c=IN_CENTS)
                     .values_list("account_id", "register", "meter_id", "read_at", "read_date", "value_c"),
                     {"account_id": pl.Int64, "register": pl.String, "meter_id": pl.Int64,
                      "read_at": pl.Datetime("us", "UTC"), "read_date": pl.Date, "value_c": pl.Int64})
    if wanted.is_empty() or current.is_empty():
        return set()
    ends = (wanted.join(current.with_row_index("place"), on=["account_id", "register"])
            .filter((pl.col("read_date") - pl.col("day")).dt.total_days().abs() <= tol)
            .sort("place").group_by("day", "account_id", "register", maintain_order=True).last()
            .with_row_index("end"))
    meter_ids = ends["meter_id"].unique().to_list()
    installed, initials = [], []
    for meter_id, installed_date, removed_date, initial in Installation.objects.filter(
            meter_id__in=meter_ids).values_list("meter_id", "installed_date", "removed_date", "initial_readings"):
        installed.append((meter_id, installed_date, removed_date))
        for register, value in (initial or {}).items():
            if value not in (None, "") and register in register_no:
                initials.append((meter_id, installed_date, register, centi(Decimal(str(value))), True))
    on = (ends.select("end", "meter_id", "read_date")
          .join(_frame(installed, {"meter_id": pl.Int64, "installed_date": pl.Date, "removed_date": pl.Date}),
                on="meter_id")
          .filter((pl.col("installed_date") <= pl.col("read_date"))
                  & (pl.col("removed_date").is_null() | (pl.col("removed_date") > pl.col("read_date"))))
          .group_by("end").agg(installed_date=pl.col("installed_date").max(),
                               tie=(pl.col("installed_date") == pl.col("installed_date").max()).sum() > 1))
    lookback = pl.col("read_date") - pl.duration(days=rules.lookback_days)
    key = pl.col("meter_id") * 16 + pl.col("register").replace_strict(register_no, return_dtype=pl.Int64)
    targets = (ends.join(on, on="end", how="left")
               .join(_frame(Meter.objects.filter(pk__in=meter_ids).values_list("pk", "digits"),
                            {"meter_id": pl.Int64, "digits": pl.Int64}), on="meter_id")
               .join(_frame(initials, {"meter_id": pl.Int64, "installed_date": pl.Date, "register": pl.String,
                                       "initial_c": pl.Int64, "has_initial": pl.Boolean}),
                     on=["meter_id", "installed_date", "register"],
                     how="left")
               .sort("end")
               .with_columns(since=pl.max_horizontal(lookback, pl.col("installed_date")),
                             counts=pl.col("installed_date") >= lookback)
               .select(key=key, seen=pl.lit(1 << 62, pl.Int64), read_at="read_at", read_date="read_date",
                       value_c=pl.when(pl.col("tie").fill_null(False)).then(None).otherwise(pl.col("value_c")),
                       since="since", dial_c=pl.lit(10, pl.Int64).pow(pl.col("digits")) * 100,
                       initial_date=pl.when(pl.col("counts") & pl.col("has_initial").fill_null(False))
                       .then(pl.col("installed_date")),
                       initial_c=pl.when(pl.col("counts")).then(pl.col("initial_c")),
                       has_account=pl.lit(True), route_day=pl.lit(None, pl.Int16)))
    priors = (_frame(Reading.objects.filter(meter_id__in=meter_ids, status=Reading.Status.ACCEPTED,
                                            read_date__gte=min(days) - timedelta(days=tol + rules.lookback_days),
                                            read_date__lte=max(days) + timedelta(days=tol))
                     .order_by("read_at", "pk").annotate(value_c=IN_CENTS)
                     .values_list("meter_id", "register", "read_at", "read_date", "value_c", "is_estimate"),
                     {"meter_id": pl.Int64, "register": pl.String, "read_at": pl.Datetime("us", "UTC"),
                      "read_date": pl.Date, "value_c": pl.Int64, "is_estimate": pl.Boolean})
              .with_row_index("seen").select(key=key, seen=pl.col("seen").cast(pl.Int64), read_at="read_at",
                                               read_date="read_date", value_c="value_c", is_estimate="is_estimate"))
    checks, cycles = checks_from_readings(targets.cast(TARGET_SCHEMA), priors.cast(PRIOR_SCHEMA))
    bounds = expected_bounds(checks, cycles, rules=rules)
    buildings = sorted(set(building_of.values()))
    building_no = {b: n for n, b in enumerate(buildings)}
    candidates = (ends.select("day", "account_id", "register", "value_c")
                  .with_columns(building=pl.col("account_id").replace_strict(
                      {a: building_no[b] for a, b in building_of.items()}, return_dtype=pl.Int64),
                      prev_date=checks["prev_date"], prev_c=checks["prev_value_c"], lo_c=bounds["lo_c"],
                      hi_c=bounds["hi_c"])
                  .filter(pl.col("prev_date").is_not_null()))  # no priors: no cycle (`_latest_cycles`)
    groups = candidates.select("day", "building", "register").unique().with_row_index("group")
    candidates = (candidates.join(groups, on=["day", "building", "register"])
                  .with_columns(lo_c=pl.when(pl.col("prev_c").is_null() | pl.col("value_c").is_null()).then(None)
                                .otherwise(pl.col("lo_c"))))
    possible = possible_groups(candidates.select(
        "group", "account_id", "prev_c", pl.col("value_c").alias("curr_c"), "lo_c", "hi_c").cast(CANDIDATE_SCHEMA),
        rules=rules)
    return {(day, buildings[b], register) for day, b, register in candidates.filter(
        pl.col("group").is_in(list(possible))).select("day", "building", "register").unique().iter_rows()}


def installation_on(installations: Iterable, *, day: date):
    """Of one meter's ``installations``, the one covering ``day`` (half-open [installed_date, removed_date)), as
    `installation_at` picks it."""
    covering = [i for i in installations
                if i.installed_date <= day and (i.removed_date is None or i.removed_date > day)]
    return max(covering, key=lambda i: i.installed_date) if covering else None


def check_swaps(*, accounts: Iterable[Account], fixed_date: date, rules: Thresholds | None = None) -> list[list[str]]:
    """Look for swapped meters among the accounts of the buildings of ``accounts`` around ``fixed_date``.

    Both readings of a suspected pair get SWAP_SUSPECTED (HELD) and each account a ReviewItem.
    Returns the codes added per pair newly flagged. The caller holds the transaction and the actor.
    """
    return check_swaps_on(touched={fixed_date: accounts}, rules=rules or validation_rules())


def check_swaps_on(*, touched: dict[date, Iterable[Account]], rules: Thresholds, screen: bool = False
                   ) -> list[list[str]]:
    """`check_swaps` for each day of ``touched`` and its accounts, the buildings' readings gathered once. With
    ``screen`` the cycles are worked out, one by one, only in the buildings where the frame form
    (`_possible_swaps`) finds that a pair may be suspected: the same pairs, at a fraction of the work."""
    buildings = {day: {(a.premise.city_id, a.premise.building) for a in accounts if a.premise.building}
                 for day, accounts in touched.items()}
    every = set().union(*buildings.values()) if buildings else set()
    if not every:
        return []
    by_building: dict[tuple[int, str], list[Account]] = defaultdict(list)
    for account in (Account.objects.filter(premise__city_id__in={c for c, _b in every},
                                           premise__building__in={b for _c, b in every})
                    .exclude(status=Account.Status.CLOSED).select_related("premise").order_by("number")):
        key = (account.premise.city_id, account.premise.building)
        if key in every:
            by_building[key].append(account)
    shared = {key for key, neighbours in by_building.items() if len(neighbours) >= 2}
    days = sorted(day for day, keys in buildings.items() if keys & shared)
    if not days:
        return []
    account_ids = [a.pk for key in shared for a in by_building[key]]
    keep = None
    if screen:
        building_of = {a.pk: key for key in shared for a in by_building[key]}
        possible = _possible_swaps(account_ids=account_ids, days=days, building_of=building_of, rules=rules)
        days = sorted({day for day, _key, _register in possible})
        looked = {key for _day, key, _register in possible}  # the cycles of these buildings' accounts, no other
        account_ids = [a.pk for key in shared & looked for a in by_building[key]]
        keep = lambda day, account_id, register: (day, building_of[account_id], register) in possible  # noqa: E731
    gathered = _gather(account_ids=account_ids, days=days, rules=rules) if days else None
    if gathered is None:
        return []
    cycles_by_day = _latest_cycles(gathered, rules=rules, keep=keep)
    added = []
    for day in days:
        by_account: dict[int, list] = defaultdict(list)
        for (account_id, register), cycle in sorted(cycles_by_day.get(day, {}).items(), key=lambda kv: kv[0][1]):
            by_account[account_id].append((register, cycle))
        for key in sorted(buildings[day] & shared):
            by_register: dict[str, list] = defaultdict(list)
            for account in by_building[key]:
                for register, cycle in by_account.get(account.pk, []):
                    by_register[register].append((account, *cycle))
            for register, items in by_register.items():
                lookup = {a.pk: (a, curr) for a, curr, _p, _e in items}
                candidates = [SwapCandidate(account_id=a.pk, account_number=a.number, prev=p.value, curr=curr.value,
                                            expected_kwh=e) for a, curr, p, e in items]
                pairs = detect_swaps(candidates, rules=rules)
                stored = Reading.objects.in_bulk([lookup[side.account_id][1].pk for pair in pairs
                                                  for side in (pair.a, pair.b)]) if pairs else {}
                for pair in pairs:  # an account is in one pair at most: each reading is read once, as it stands
                    flagged = False
                    for side, found in ((pair.a, pair.finding_a), (pair.b, pair.finding_b)):
                        account, curr = lookup[side.account_id]
                        reading = stored[curr.pk]
                        flagged |= _flag_reading(reading, found, rules)
                        ReviewItem.objects.get_or_create(
                            account=account, register=register, code=Code.SWAP_SUSPECTED,
                            fixed_date=reading.read_date,
                            defaults={"reading": reading, "finding": found.as_dict(), "created_at": reading.created_at})
                    if flagged:
                        added.append([Code.SWAP_SUSPECTED.value, Code.SWAP_SUSPECTED.value])
    return added


def _flag_reading(reading: Reading, found: Finding, rules: Thresholds) -> bool:
    """Add ``found`` to the reading (saved, audited); False when it carries that code already."""
    findings = stored_findings(reading)
    if any(f.code == found.code for f in findings):
        return False
    findings.append(found)
    _apply_findings(reading, findings, rules)
    reading.save(update_fields=["codes", "findings", "status"])
    record_event(action="READING_FLAGGED", obj=reading, detail={"code": found.code, "numbers": found.numbers,
                                                                "status": reading.status})
    return True


# ---- the route's period -------------------------------------------------------------------------------


def fixed_date_in(*, route_day: int, period_start: date, period_end: date) -> date | None:
    """The route's fixed reading day inside [period_start, period_end), or None."""
    day = date(period_start.year, period_start.month, route_day)
    if day < period_start:
        month0 = period_start.month
        day = date(period_start.year + month0 // 12, month0 % 12 + 1, route_day)
    return day if day < period_end else None


@dataclass
class RouteValidation:
    route: str
    fixed_date: date | None
    accounts: int = 0
    readings: int = 0
    missed: list[dict] = field(default_factory=list)
    flagged: dict[str, list[str]] = field(default_factory=dict)  # account number -> codes
    held: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"route": self.route, "fixed_date": self.fixed_date.isoformat() if self.fixed_date else None,
                "accounts": self.accounts, "readings": self.readings, "missed": self.missed,
                "flagged": self.flagged, "held": self.held}


def validate_route_period(*, route, period_start: date, period_end: date, actor: Actor | None = None,
                          created_at: datetime | None = None) -> RouteValidation:
    """Validate every account of ``route`` for the period [period_start, period_end).

    The readings inside the period are checked again (codes added, HELD when blocking); a register with
    no reading at all gets a MISSED review item; swapped meters in the route's buildings are looked for.
    Runs under ``actor`` (default: the current actor). ``created_at`` stamps new review items.

    Raises RulesError.
    """
    rules = validation_rules()
    fixed = fixed_date_in(route_day=route.reading_day, period_start=period_start, period_end=period_end)
    result = RouteValidation(route=route.code, fixed_date=fixed)
    if fixed is None:
        return result
    stamp = created_at or datetime.combine(fixed, time(0), BUSINESS_TZ)
    installations = list(
        Installation.objects.filter(account__route=route, installed_date__lte=fixed)
        .filter(Q(removed_date__isnull=True) | Q(removed_date__gt=fixed))
        .exclude(account__status=Account.Status.CLOSED)
        .select_related("account__premise", "account__route", "meter").order_by("account__walk_order", "account_id")
    )
    since = period_start - timedelta(days=rules.lookback_days)
    meter_ids = [i.meter_id for i in installations]
    rows = defaultdict(list)  # (meter, register) -> light rows of the lookback window, for the rules
    for meter_id, register, *values in (
            Reading.objects.filter(meter_id__in=meter_ids, read_date__gte=since, read_date__lt=period_end)
            .exclude(status__in=[Reading.Status.SUPERSEDED, Reading.Status.REJECTED]).order_by("read_at")
            .values_list("meter_id", "register", "pk", "read_at", "read_date", "value", "is_estimate", "status")):
        rows[(meter_id, register)].append(_Row(*values))
    current = defaultdict(list)  # (meter, register) -> the readings of the period, to be checked again
    for r in (Reading.objects.filter(LIVE, meter_id__in=meter_ids, read_date__gte=period_start,
                                     read_date__lt=period_end).order_by("read_at")):
        current[(r.meter_id, r.register)].append(r)
    context = acting_as(actor) if actor is not None else nullcontext()
    candidates: dict[tuple, list] = defaultdict(list)  # (city, building, register) -> swap candidates
    with context, transaction.atomic():
        result.accounts = len(installations)
        for inst in installations:
            account, meter = inst.account, inst.meter
            for register in meter.registers or [Reading.Register.TOTAL]:
                readings = rows.get((meter.pk, register), [])
                in_period = [r for r in current.get((meter.pk, register), []) if r.read_date >= inst.installed_date]
                if not in_period:
                    found = finding(Code.MISSED, fixed_date=fixed.isoformat())
                    item, made = ReviewItem.objects.get_or_create(
                        account=account, register=register, code=Code.MISSED, fixed_date=fixed,
                        defaults={"finding": found.as_dict(), "created_at": stamp})
                    if made:
                        record_event(action="READING_MISSED", obj=item, detail={
                            "account": account.number, "register": register, "fixed_date": fixed.isoformat()})
                    result.missed.append({"account": account.number, "register": register})
                    continue
                for reading in in_period:
                    result.readings += 1
                    check = _revalidate(reading, readings=readings, installation=inst, rules=rules, stamp=stamp,
                                        since=since)
                    if check.previous is not None and not reading.is_estimate and account.premise.building:
                        expectation = expected_consumption(history=check.history, start_date=check.previous.read_date,
                                                           end_date=reading.read_date, rules=rules)
                        key = (account.premise.city_id, account.premise.building, register)
                        candidates[key].append((account, reading, SwapCandidate(
                            account_id=account.pk, account_number=account.number, prev=check.previous.value,
                            curr=reading.value, expected_kwh=expectation.kwh if expectation else Decimal(0))))
                    _note(result, account, reading)
        for (_city, _building, register), items in sorted(candidates.items(), key=lambda kv: kv[0]):
            if len(items) < 2:
                continue
            by_id = {c.account_id: (a, r) for a, r, c in items}
            for pair in detect_swaps([c for _a, _r, c in items], rules=rules):
                for side, found in ((pair.a, pair.finding_a), (pair.b, pair.finding_b)):
                    account, reading = by_id[side.account_id]
                    _flag_reading(reading, found, rules)
                    ReviewItem.objects.get_or_create(
                        account=account, register=register, code=Code.SWAP_SUSPECTED, fixed_date=reading.read_date,
                        defaults={"reading": reading, "finding": found.as_dict(), "created_at": stamp})
                    _note(result, account, reading)
    return result


@dataclass(frozen=True)
class _Row:
    pk: int
    read_at: datetime
    read_date: date
    value: Decimal
    is_estimate: bool
    status: str


def _note(result: RouteValidation, account: Account, reading: Reading) -> None:
    if reading.codes:
        result.flagged[account.number] = sorted(set(result.flagged.get(account.number, [])) | set(reading.codes))
    if reading.status == Reading.Status.HELD and account.number not in result.held:
        result.held.append(account.number)


def _revalidate(reading: Reading, *, readings: list[_Row], installation: Installation, rules: Thresholds,
                stamp: datetime, since: date) -> ReadingCheck:
    """Apply the rules to a stored reading again; store changed codes (a HELD reading stays HELD)."""
    priors = [PriorReading(read_date=r.read_date, value=r.value, is_estimate=r.is_estimate) for r in readings
              if r.status == Reading.Status.ACCEPTED and r.read_at < reading.read_at and r.pk != reading.pk
              and r.read_date >= installation.installed_date]
    priors = _with_initial(priors, installation=installation, register=reading.register,
                           since=max(since, installation.installed_date))
    check = _check_for(meter=installation.meter, read_date=reading.read_date, value=reading.value, priors=priors,
                       installation=installation)
    found = validate_reading(check, rules=rules)
    seen = {f.code for f in found}
    kept = [f for f in stored_findings(reading) if f.code not in RECOMPUTED and f.code not in seen]
    merged = found + kept
    if [f.code for f in merged] == list(reading.codes or []):
        return check
    before = reading.status
    _apply_findings(reading, merged, rules)
    reading.save(update_fields=["codes", "findings", "status"])
    record_event(action="READING_VALIDATED", obj=reading, detail={"codes": reading.codes, "status": reading.status,
                                                                  "status_before": before})
    for f in merged:
        if f.code in SITE_VISIT_CODES and reading.account_id:
            _order_site_visit(account=installation.account, meter=installation.meter, code=f.code,
                              ordered_date=reading.read_date, reading=reading, detail=f.numbers, created_at=stamp)
    return check


# ---- the bill run's view ------------------------------------------------------------------------------


def _cycle_reading(reading: Reading, same_time: list[Reading]) -> CycleReading:
    findings = {}
    for r in [reading, *same_time]:
        for f in stored_findings(r):
            findings.setdefault(f.code, f)
    return CycleReading(read_date=reading.read_date, value=reading.value, is_estimate=reading.is_estimate,
                        held=any(r.status == Reading.Status.HELD for r in [reading, *same_time]),
                        findings=tuple(findings.values()), reading_id=reading.pk)


def validate_cycle(*, account: Account, period_start: date, period_end: date) -> CycleResult:
    """The account's consumption per register for its reading in [period_start, period_end) (the fixed-day
    reading of that month) against the previous accepted reading, with all findings. ``blocking`` means
    the bill must be held. Registers without a reading in the period give MISSED.
    """
    rules = validation_rules()
    route_day = account.route.reading_day if account.route_id else None
    fixed = (fixed_date_in(route_day=route_day, period_start=period_start, period_end=period_end)
             if route_day else None) or period_start
    installation = account_installation_at(account=account, day=fixed)
    if installation is None:
        found = finding(Code.INACTIVE_METER, meter="-", read_date=fixed.isoformat())
        return CycleResult(account_id=account.pk, findings=[found], blocking=rules.is_blocking(found.code))
    meter = installation.meter
    registers = list(meter.registers or [Reading.Register.TOTAL])
    previous, current, history = {}, {}, {}
    for register in registers:
        in_period = list(Reading.objects.filter(LIVE, meter=meter, register=register, read_date__gte=period_start,
                                                read_date__lt=period_end).order_by("read_at"))
        if not in_period:
            current[register] = None
            continue
        accepted = [r for r in in_period if r.status == Reading.Status.ACCEPTED]
        chosen = accepted[-1] if accepted else in_period[-1]
        same_time = [r for r in in_period if r.read_at == chosen.read_at and r.pk != chosen.pk]
        current[register] = _cycle_reading(chosen, same_time)
        priors = _priors(meter_id=meter.pk, register=register, before=datetime.combine(
            period_start, time(0), BUSINESS_TZ), installation=installation, rules=rules)
        previous[register] = (CycleReading(read_date=priors[-1].read_date, value=priors[-1].value,
                                           is_estimate=priors[-1].is_estimate) if priors else None)
        history[register] = cycles_from_readings(priors, digits=meter.digits)
    return domain_validate_cycle(
        account_id=account.pk, registers=registers, previous=previous, current=current, history=history,
        digits=meter.digits, multiplier=meter.multiplier, fixed_date=fixed, route_day=route_day,
        account_active=account.status == Account.Status.ACTIVE, rules=rules,
    )


# ---- estimates ----------------------------------------------------------------------------------------


def estimate_missing(*, account: Account, register: str, read_date: date, actor: Actor,
                     received_at: datetime | None = None) -> ReadingOutcome:
    """Store an estimate (source ESTIMATE, is_estimate) for a missing reading on ``read_date``.

    Estimates are never chained silently: when the last ``estimates.max_consecutive`` readings are already
    estimates, the estimate is refused, an on-site reading (SiteVisitOrder ESTIMATE_STREAK) is ordered,
    and EstimateRefused is raised. An existing estimate for that day is returned unchanged.

    Raises ReadingInputError (no meter on the account that day), ReadingExists (an actual reading is
    there), EstimateRefused, NoHistoryForEstimate.
    """
    rules = validation_rules()
    received_at = received_at or timezone.now()
    installation = account_installation_at(account=account, day=read_date)
    if installation is None:
        raise ReadingInputError(_("account %(account)s had no meter on %(day)s")
                                % {"account": account.number, "day": read_date}, field="account")
    meter = installation.meter
    if meter.registers and register not in meter.registers:
        raise ReadingInputError(_("meter %(meter)s has no %(register)s register (it has %(allowed)s)")
                                % {"meter": meter.asset_number, "register": register,
                                   "allowed": ", ".join(meter.registers)}, field="register")
    existing = Reading.objects.filter(LIVE, meter=meter, register=register, read_date=read_date).order_by("read_at")
    for reading in existing:
        if reading.is_estimate:
            return ReadingOutcome(reading=reading, created=False, findings=stored_findings(reading))
        raise ReadingExists(_("meter %(meter)s already has a reading on %(day)s")
                            % {"meter": meter.asset_number, "day": read_date})
    read_at = datetime.combine(read_date, time(0), BUSINESS_TZ).astimezone(UTC)
    priors = _priors(meter_id=meter.pk, register=register, before=read_at, installation=installation, rules=rules)
    with acting_as(actor):
        refusal = check_estimate_streak(consecutive_estimates=consecutive_estimates(priors), rules=rules)
        if refusal is not None:
            with transaction.atomic():
                order = _order_site_visit(account=account, meter=meter, code=Code.ESTIMATE_STREAK,
                                          ordered_date=local_date(received_at), reading=None,
                                          detail={**refusal.numbers, "register": register,
                                                  "read_date": read_date.isoformat()}, created_at=received_at)
                ReviewItem.objects.get_or_create(
                    account=account, register=register, code=Code.ESTIMATE_STREAK, fixed_date=read_date,
                    defaults={"finding": refusal.as_dict(), "created_at": received_at})
                record_event(action="ESTIMATE_REFUSED", obj=account, detail={
                    "register": register, "read_date": read_date.isoformat(), **refusal.numbers})
            raise EstimateRefused(refusal, order=order)
        estimate = estimate_reading(previous=priors[-1] if priors else None, read_date=read_date,
                                    history=cycles_from_readings(priors, digits=meter.digits), digits=meter.digits,
                                    rules=rules)
        with transaction.atomic():
            reading = Reading.objects.create(
                meter=meter, account=account, register=register, read_at=read_at, read_date=read_date,
                value=estimate.value, source=Reading.Source.ESTIMATE, is_estimate=True,
                note=f"estimate: {estimate.basis}", created_at=received_at,
            )
            record_event(action="READING_ESTIMATED", obj=reading, detail={
                "account": account.number, "register": register, "read_date": read_date.isoformat(),
                "value": str(estimate.value), "kwh": str(estimate.kwh), "basis": estimate.basis})
    return ReadingOutcome(reading=reading, created=True, findings=[])


def catch_up_for(*, account: Account, register: str, read_date: date) -> CatchUp:
    """What the account's actual reading on ``read_date`` settles after estimates (for the bill's CATCH_UP line).

    Raises NoReading.
    """
    rules = validation_rules()
    actual = (Reading.objects.filter(account=account, register=register, read_date=read_date, is_estimate=False,
                                     status=Reading.Status.ACCEPTED).order_by("-read_at").first())
    if actual is None:
        raise NoReading(_("no accepted actual reading for account %(account)s on %(day)s")
                        % {"account": account.number, "day": read_date})
    installation = installation_at(meter=actual.meter, day=read_date)
    priors = _priors(meter_id=actual.meter_id, register=register, before=actual.read_at, installation=installation,
                     rules=rules)
    return catch_up(readings=[*priors, PriorReading(actual.read_date, actual.value, False)],
                    digits=actual.meter.digits)


__all__ = [
    "CatchUp", "ClientKeyConflict", "CycleResult", "EstimateRefused",
    "NoHistoryForEstimate", "NoReading", "ReadingExists", "ReadingInputError", "ReadingOutcome",
    "RouteValidation", "catch_up_for", "check_swaps", "check_swaps_on", "estimate_missing",
    "load_validation_rules", "submit_reading", "validate_cycle", "validate_route_period", "validation_rules",
]
