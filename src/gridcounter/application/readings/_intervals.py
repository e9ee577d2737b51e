"""AMI interval data: a Parquet dataset by period and route, its import, and a route's period usage for the bill run.

Layout under the interval folder (settings / env ``GRIDCOUNTER_INTERVAL_DIR``, default ``./intervals``)::

    period=2026-11/route=R001/part-<digest of the source file>.parquet

Each part holds the columns of `gridcounter.domain.readings.intervals.INTERVAL_SCHEMA` (account_id, meter_id,
start_at in UTC, kwh_e4). A file imported twice writes the same part names again, so a re-import replaces
rather than adds; the same interval from two different files counts once when the values agree (and is a
DUPLICATE when they do not). See docs/intervals.md.

An import's parts and its database rows (meters marked, the INTERVALS_IMPORTED event) commit together: the parts
are written beside their place under temporary names (``.part-<digest>.parquet.<pid>.<random>.tmp``) and moved
into place once the transaction has committed. `sweep_interval_dir`, run at the start of every import and by
``import-intervals --sweep``, removes the temporary files of a process that is gone, or moves them into place
when their import had committed (its event lists them) and the process died before it could.
"""
from __future__ import annotations

import hashlib
import os
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from django.db import transaction
from django.utils.translation import gettext as _

from gridcounter.application.cells import SHOWN, date_problem, nul_reason
from gridcounter.application.tariffs import get_catalogue
from gridcounter.domain.billing.periods import billing_period
from gridcounter.domain.business_time import BUSINESS_TZ, business_date
from gridcounter.domain.horizon import INTERVAL_LEAD
from gridcounter.domain.readings.intervals import (
    INTERVAL_SCHEMA,
    SLOT_MINUTES,
    IntervalResult,
    IntervalRules,
    interval_usage_frame,
    max_interval_kwh_e4,
)
from gridcounter.domain.tariffs import Catalogue

ENV_DIR = "GRIDCOUNTER_INTERVAL_DIR"
DEFAULT_FOLDER = "intervals"
FILE_COLUMNS = ("meter", "start_at", "kwh")
# ISO 8601 forms accepted for start_at: with an offset (any zone) or naive local Asia/Shanghai time
AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M%z")
NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
KWH_PATTERN = r"^-?\d{1,12}(\.\d{1,4})?$"


class UnknownRoute(LookupError):
    """No route with this code."""


class IntervalFileError(ValueError):
    """The interval file cannot be read as a whole (format, encoding or missing columns)."""


# -- configuration ------------------------------------------------------------------------------------------


def interval_dir() -> Path:
    """The dataset folder: settings.GRIDCOUNTER_INTERVAL_DIR, else the environment variable, else ./intervals."""
    from django.conf import settings

    configured = getattr(settings, ENV_DIR, None) or os.environ.get(ENV_DIR)
    return Path(configured) if configured else Path.cwd() / DEFAULT_FOLDER


def load_interval_rules(*, path: str | Path) -> IntervalRules:
    """The [intervals] section of a validation rules file. Raises OSError, TOMLDecodeError, IntervalRulesError."""
    with open(path, "rb") as handle:
        return IntervalRules.from_mapping(tomllib.load(handle))


def interval_rules() -> IntervalRules:
    """The thresholds in force: the rules file named by settings.GRIDCOUNTER_VALIDATION_RULES."""
    from django.conf import settings

    return load_interval_rules(path=settings.GRIDCOUNTER_VALIDATION_RULES)


# -- the dataset --------------------------------------------------------------------------------------------


def partition_dir(*, root: Path, period: str, route_code: str) -> Path:
    return Path(root) / f"period={period}" / f"route={route_code}"


def stage_part(frame: pl.DataFrame, *, root: Path, period: str, route_code: str, name: str) -> tuple[Path, Path]:
    """Write one part of a partition under a temporary name beside its place: (temporary file, its place)."""
    folder = partition_dir(root=root, period=period, route_code=route_code)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"part-{name}.parquet"
    scratch = folder / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    frame.select([pl.col(k).cast(v) for k, v in INTERVAL_SCHEMA.items()]).sort("account_id", "start_at").write_parquet(
        scratch, compression="zstd", statistics=True)
    return scratch, target


def publish_parts(staged: list[tuple[Path, Path]]) -> None:
    """Move staged parts into place (each rename atomic)."""
    for scratch, target in staged:
        os.replace(scratch, target)


def write_part(frame: pl.DataFrame, *, root: Path, period: str, route_code: str, name: str) -> Path:
    """Write one part of a partition atomically (a temporary file renamed into place)."""
    staged = stage_part(frame, root=root, period=period, route_code=route_code, name=name)
    publish_parts([staged])
    return staged[1]


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process stages nothing before it sweeps: its name on a file is an earlier process's
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_interval_dir(root: Path) -> dict[str, int]:
    """Tidy the temporary parts of processes that are gone: move those of a committed import into place (its
    INTERVALS_IMPORTED event lists them), remove the others. Returns how many were published and removed."""
    from gridcounter.data.audit.models import AuditEvent

    root = Path(root)
    done = {"published": 0, "removed": 0}
    if not root.is_dir():
        return done
    for scratch in sorted(root.glob("period=*/route=*/.part-*.parquet.*.tmp")):
        target_name, _suffix, rest = scratch.name[1:].partition(".parquet.")
        pid = rest.split(".", 1)[0]
        if pid.isdigit() and _process_alive(int(pid)):
            continue  # an import in progress
        digest = target_name.removeprefix("part-")
        relative = str(scratch.relative_to(root))
        committed = any(relative in (detail or {}).get("staged", []) for detail in AuditEvent.objects.filter(
            action="INTERVALS_IMPORTED", object_id=digest).values_list("detail", flat=True))
        if committed:
            os.replace(scratch, scratch.with_name(f"{target_name}.parquet"))
            done["published"] += 1
        else:
            scratch.unlink(missing_ok=True)
            done["removed"] += 1
    return done


def scan_route(*, root: Path, period: str, route_code: str) -> pl.LazyFrame:
    """The route's intervals for the period as a LazyFrame (empty when nothing was imported)."""
    folder = partition_dir(root=root, period=period, route_code=route_code)
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not parts:
        return pl.LazyFrame(schema=INTERVAL_SCHEMA)
    return pl.scan_parquet(parts)


# -- a route's usage for one billing period -----------------------------------------------------------------


@dataclass(frozen=True)
class IntervalUsage(IntervalResult):
    """A route's interval usage for one period: the kernel's `IntervalResult` (usage, findings, held_account_ids,
    findings_for) with the route and period it was read for."""

    route_code: str
    period: str
    start_date: date
    end_date: date

    def to_rate(self) -> pl.DataFrame:
        """The accounts not held, in rate_frame's columns (ytd_c, household_size etc. still to be joined)."""
        return self.usage.filter(~pl.col("held")).select(
            "account_id", "period", "tariff_id", "start_date", "end_date", "kwh_c", "critical_peak_c", "peak_c",
            "flat_c", "valley_c")


def interval_usage(
    *,
    route_code: str,
    period: str,
    root: Path | None = None,
    catalogue: Catalogue | None = None,
    rules: IntervalRules | None = None,
    account_ids: list[int] | None = None,
    expected_ids: list[int] | None = None,
) -> IntervalUsage:
    """Validated, gap-filled, time-of-use-binned usage of the route's interval-metered accounts for `period`.

    The period is the route's billing period (its fixed reading day of the previous month up to, not
    including, that day of `period`'s month). The accounts are `account_ids` when given, else the route's
    accounts with at least one interval stored for the period and the `expected_ids` (accounts whose meter
    sends intervals: one that sent none is held GAP). Reads the database (route, accounts, TOTAL register
    readings at both ends and the meter multiplier) and the dataset; writes nothing.

    Raises UnknownRoute, InvalidPeriod, IntervalRulesError, CatalogueError.
    """
    from gridcounter.data.readings.models import Reading
    from gridcounter.data.registry.models import Account, Route

    route = Route.objects.filter(code=route_code).first()
    if route is None:
        raise UnknownRoute(f"no route {route_code!r}")
    billing = billing_period(period=period, reading_day=route.reading_day)
    root = interval_dir() if root is None else Path(root)
    catalogue = get_catalogue() if catalogue is None else catalogue
    rules = interval_rules() if rules is None else rules
    intervals = scan_route(root=root, period=period, route_code=route_code)
    if account_ids is None:
        present = intervals.select(pl.col("account_id").unique()).collect()["account_id"].to_list()
        present = sorted(set(present) | set(expected_ids or ()))
        accounts = Account.objects.filter(route=route, pk__in=present) if present else Account.objects.none()
    else:
        accounts = Account.objects.filter(route=route, pk__in=account_ids)
    tariffs = dict(accounts.values_list("pk", "tariff_id"))
    registers: dict[tuple[int, date], tuple[int, int]] = {}
    for account_id, day, value, multiplier in (
        Reading.objects.filter(account__route=route, register=Reading.Register.TOTAL,
                               status=Reading.Status.ACCEPTED,
                               read_date__in=[billing.start_date, billing.end_date])
        .order_by("read_at").values_list("account_id", "read_date", "value", "meter__multiplier")
    ):
        if account_id in tariffs:
            registers[(account_id, day)] = (int(value * 100), int(multiplier * 100))  # the latest read wins
    rows: list[dict[str, Any]] = []
    for account_id, tariff_id in sorted(tariffs.items()):
        start = registers.get((account_id, billing.start_date))
        end = registers.get((account_id, billing.end_date))
        rows.append({"account_id": account_id, "tariff_id": tariff_id,
                     "register_start_c": start[0] if start else None, "register_end_c": end[0] if end else None,
                     "multiplier_c": end[1] if end else (start[1] if start else None)})
    frame = pl.DataFrame(rows, schema={"account_id": pl.Int64(), "tariff_id": pl.String(),
                                       "register_start_c": pl.Int64(), "register_end_c": pl.Int64(),
                                       "multiplier_c": pl.Int64()})
    result = interval_usage_frame(intervals, frame, period=period, start_date=billing.start_date,
                                  end_date=billing.end_date, catalogue=catalogue, rules=rules)
    return IntervalUsage(route_code=route_code, period=period, start_date=billing.start_date,
                         end_date=billing.end_date, usage=result.usage, findings=result.findings)


# -- import -------------------------------------------------------------------------------------------------


@dataclass
class ImportedIntervals:
    file_name: str
    rows: int = 0
    written: dict[tuple[str, str], int] = field(default_factory=dict)  # (period, route) → intervals
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)  # line, column, reason
    meters_marked: int = 0  # meters whose first intervals these are: now marked as sending intervals
    swept: dict[str, int] = field(default_factory=dict)  # temporary parts of earlier imports published, removed

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file_name, "rows": self.rows, "rejected": len(self.rejected_rows),
                "written": [{"period": p, "route": r, "intervals": n} for (p, r), n in sorted(self.written.items())],
                "meters_marked": self.meters_marked, "rejected_rows": self.rejected_rows, "swept": self.swept}


def _read_file(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise IntervalFileError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise IntervalFileError(f"{path.name}: the file is empty; the first line must name the columns")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
            frame = frame.with_columns(
                [pl.col(name).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%z")
                 if isinstance(dtype, pl.Datetime) and dtype.time_zone else
                 pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S") if isinstance(dtype, pl.Datetime) else
                 pl.col(name).cast(pl.String) for name, dtype in frame.schema.items()])
        else:
            frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "Parquet" if path.suffix.lower() == ".parquet" else "UTF-8 CSV"
        raise IntervalFileError(f"{path.name}: cannot read as {kind}: {first}") from None
    except OSError as exc:
        raise IntervalFileError(f"{path}: {exc.strerror or exc}") from None
    frame = frame.rename({name: name.strip().lower() for name in frame.columns})
    missing = [name for name in FILE_COLUMNS if name not in frame.columns]
    if missing:
        raise IntervalFileError(f"{path.name}: missing column(s) {', '.join(missing)} (need {', '.join(FILE_COLUMNS)})")
    return frame


def _shown(expr: pl.Expr) -> pl.Expr:
    """A cell quoted in a reason: NUL bytes as ␀, at most SHOWN characters."""
    text = expr.fill_null("").str.replace_all("\x00", "␀", literal=True)
    return pl.when(text.str.len_chars() > SHOWN).then(text.str.slice(0, SHOWN) + "…").otherwise(text)


def _parse(frame: pl.DataFrame) -> pl.DataFrame:
    """line, meter, start_at (UTC), local_date, kwh_e4 and the first problem of each row (column, reason)."""
    c = pl.col
    text = c("start_at").str.strip_chars().str.replace(r"Z$", "+00:00")
    aware = pl.coalesce([text.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False) for f in AWARE_FORMATS])
    naive = pl.coalesce([text.str.strptime(pl.Datetime("us"), f, strict=False) for f in NAIVE_FORMATS])
    moment = pl.coalesce([aware, naive.dt.replace_time_zone(str(BUSINESS_TZ)).dt.convert_time_zone("UTC")])
    kwh = c("kwh").str.strip_chars()
    whole = kwh.str.extract(r"^-?(\d+)", 1).cast(pl.Int64, strict=False)
    fraction = kwh.str.extract(r"\.(\d+)$", 1).fill_null("").str.pad_end(4, "0").cast(pl.Int64, strict=False)
    sign = pl.when(kwh.str.starts_with("-")).then(-1).otherwise(1)
    parsed = frame.with_row_index("line", offset=2).select(
        "line", c("meter").str.strip_chars().alias("meter"), c("start_at").alias("_start_text"),
        moment.alias("start_at"), c("kwh").alias("_kwh_text"),
        pl.when(kwh.str.contains(KWH_PATTERN)).then(sign * (whole * 10**4 + fraction.fill_null(0))).alias("kwh_e4"),
        *[c(name).fill_null("").str.contains("\x00", literal=True).alias(f"_nul_{name}") for name in FILE_COLUMNS],
    ).with_columns(local_date=c("start_at").dt.convert_time_zone(str(BUSINESS_TZ)).dt.date())
    aligned = (c("start_at").dt.epoch("s") % (SLOT_MINUTES * 60)) == 0
    nul = nul_reason()
    return parsed.with_columns(
        _column=pl.when(c("_nul_meter")).then(pl.lit("meter"))
        .when(c("_nul_start_at")).then(pl.lit("start_at"))
        .when(c("_nul_kwh")).then(pl.lit("kwh"))
        .when(c("meter").fill_null("") == "").then(pl.lit("meter"))
        .when(c("start_at").is_null() | ~aligned).then(pl.lit("start_at"))
        .when(c("kwh_e4").is_null()).then(pl.lit("kwh")),
        _reason=pl.when(c("_nul_meter") | c("_nul_start_at") | c("_nul_kwh")).then(pl.lit(nul))
        .when(c("meter").fill_null("") == "").then(pl.lit(_("meter is empty")))
        .when(c("start_at").is_null()).then(pl.format(_("start_at “{}” is not an ISO 8601 date and time "
                                                        "(e.g. 2026-11-15T09:30 or 2026-11-15T01:30Z)"),
                                                      _shown(c("_start_text"))))
        .when(~aligned).then(pl.format(_("start_at “{}” is not the start of a 15-minute interval"),
                                       _shown(c("_start_text"))))
        .when(c("kwh_e4").is_null()).then(pl.format(_("kwh “{}” is not a number with at most 4 decimals"),
                                                    _shown(c("_kwh_text")))),
    )


def _beyond_horizon(frame: pl.DataFrame, *, today: date) -> pl.DataFrame:
    """The rows whose local date lies outside the import's horizon get that problem (start_at), unless another
    column's problem came first; it replaces a misaligned start (far from today, the zone's offsets are odd)."""
    c = pl.col
    open_rows = c("start_at").is_not_null() & (c("_column").is_null() | (c("_column") == "start_at"))
    days = frame.filter(open_rows)["local_date"].drop_nulls().unique().to_list()
    reasons = {day: date_problem(day, today=today, lead=INTERVAL_LEAD) for day in days}
    late = pl.DataFrame({"local_date": list(reasons), "_late": list(reasons.values())},
                        schema={"local_date": pl.Date(), "_late": pl.String()})
    joined = frame.join(late, on="local_date", how="left", maintain_order="left")
    beyond = open_rows & c("_late").is_not_null()
    return joined.with_columns(
        _column=pl.when(beyond).then(pl.lit("start_at")).otherwise(c("_column")),
        _reason=pl.when(beyond).then(pl.format("start_at “{}”: {}", _shown(c("_start_text")), c("_late")))
        .otherwise(c("_reason")),
    ).drop("_late")


def _installations(meters: list[str]) -> pl.DataFrame:
    from gridcounter.data.registry.models import Installation

    rows: list[tuple] = []
    for i in range(0, len(meters), 5000):
        for *values, capacity, multiplier in Installation.objects.filter(
                meter__asset_number__in=meters[i:i + 5000]).values_list(
                "meter__asset_number", "meter_id", "account_id", "installed_date", "removed_date",
                "account__route__code", "account__route__reading_day", "account__capacity_kva", "meter__multiplier"):
            most = max_interval_kwh_e4(capacity_kva=capacity, multiplier=multiplier or Decimal(1))
            rows.append((*values, most, f"{Decimal(most) / 10**4:f}"))
    return pl.DataFrame(rows, schema={"meter": pl.String(), "meter_id": pl.Int64(), "account_id": pl.Int64(),
                                      "installed_date": pl.Date(), "removed_date": pl.Date(), "route": pl.String(),
                                      "reading_day": pl.Int64(), "max_kwh_e4": pl.Int64(), "max_kwh": pl.String()},
                        orient="row")


def import_intervals(*, path: str | Path, as_of: datetime, root: Path | None = None) -> ImportedIntervals:
    """Load a head-end file (columns meter, start_at, kwh; CSV or Parquet) into the interval dataset.

    `meter` is the meter's asset number; `start_at` the interval's start, ISO 8601 with an offset or
    naive local Asia/Shanghai time, on a 15-minute boundary; `kwh` the interval's energy after the
    multiplier, at most 4 decimals, no more than the installation's physical maximum for 15 minutes
    (`max_interval_kwh_e4`). Each interval goes to the account the meter served on its local date and to
    that account's route and billing period; its local date lies between EARLIEST_DATE and a day after
    `as_of`'s business date (`gridcounter.domain.horizon`). All or nothing: when any row is bad, nothing is
    written and every bad row is named by line and column; the parts and the database rows commit together
    (parts staged, moved into place on commit). Earlier imports' temporary parts are swept first
    (`sweep_interval_dir`). Raises IntervalFileError, OSError.
    """
    from gridcounter.data.audit.events import record_event

    path = Path(path)
    root = interval_dir() if root is None else Path(root)
    result = ImportedIntervals(file_name=path.name, swept=sweep_interval_dir(root))
    frame = _beyond_horizon(_parse(_read_file(path)), today=business_date(as_of))
    result.rows = frame.height
    c = pl.col
    installed = _installations(frame.filter(c("_column").is_null())["meter"].unique().to_list())
    matched = frame.join(installed, on="meter", how="left").filter(
        c("account_id").is_null() | ((c("installed_date") <= c("local_date"))
                                     & (c("removed_date").is_null() | (c("local_date") < c("removed_date")))))
    # a meter with no installation on that date leaves its row without an account
    placed = frame.select("line").join(matched.filter(c("account_id").is_not_null()).select("line").unique(),
                                       on="line", how="anti")
    unplaced = frame.join(placed, on="line", how="semi").filter(c("_column").is_null()).with_columns(
        _column=pl.lit("meter"),
        _reason=pl.format(_("meter {} is not installed on any account on {}"), _shown(c("meter")), c("local_date")))
    too_much = matched.filter(c("account_id").is_not_null() & c("_column").is_null()
                              & (c("kwh_e4").abs() > c("max_kwh_e4"))).with_columns(
        _column=pl.lit("kwh"),
        _reason=pl.format(_("kwh {} is more than one 15-minute interval of meter {} can carry (at most {} kWh)"),
                          _shown(c("_kwh_text")), c("meter"), c("max_kwh"))).select(frame.columns)
    bad = pl.concat([frame.filter(c("_column").is_not_null()), unplaced, too_much], how="vertical").sort("line")
    result.rejected_rows = [{"line": r["line"], "column": r["_column"], "reason": r["_reason"]}
                            for r in bad.select("line", "_column", "_reason").iter_rows(named=True)]
    if result.rejected_rows:
        return result
    good = matched.filter(c("account_id").is_not_null()).with_columns(
        _after=c("local_date").dt.day() >= c("reading_day"))
    month = c("local_date").dt.month() + c("_after").cast(pl.Int32)
    good = good.with_columns(
        period=pl.format("{}-{}", (c("local_date").dt.year() + (month > 12).cast(pl.Int32)),
                         pl.when(month > 12).then(1).otherwise(month).cast(pl.String).str.zfill(2)))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    staged: list[tuple[Path, Path]] = []
    with transaction.atomic():
        for (period, route), part in good.group_by("period", "route"):
            staged.append(stage_part(part, root=root, period=period, route_code=route, name=digest))
            result.written[(period, route)] = part.height
        result.meters_marked = mark_interval_meters(good["meter"].unique().to_list())
        record_event(action="INTERVALS_IMPORTED", object_type="intervals.file", object_id=digest,
                     detail={"file": path.name, "rows": result.rows, "meters_marked": result.meters_marked,
                             "partitions": [f"{p}/{r}" for p, r in sorted(result.written)],
                             "staged": sorted(str(scratch.relative_to(root)) for scratch, _t in staged)})
        transaction.on_commit(lambda: publish_parts(staged))
    return result


def mark_interval_meters(asset_numbers: list[str]) -> int:
    """Mark the meters not yet marked as sending 15-minute intervals, each with a history version stamped with the
    acting user, hall, channel and reason. Returns how many were marked."""
    from simple_history.utils import bulk_update_with_history

    from gridcounter.data.audit.context import current_actor
    from gridcounter.data.registry.models import Meter

    actor = current_actor()
    marked = 0
    for start in range(0, len(asset_numbers), 2000):
        meters = list(Meter.objects.filter(asset_number__in=asset_numbers[start:start + 2000], sends_intervals=False))
        for meter in meters:
            meter.sends_intervals = True
        if meters:
            bulk_update_with_history(
                meters, Meter, ["sends_intervals"], default_user=actor.user,
                default_change_reason=(actor.reason or "first 15-minute intervals imported")[:100],
                custom_historical_attrs={"history_hall_id": actor.hall_id, "history_channel": actor.channel})
        marked += len(meters)
    return marked
