"""`gridcounter quote`: rate a month's usage under a catalogue tariff, without Django or a database."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from gridcounter.application.tariffs import read_catalogue
from gridcounter.domain.tariffs import (
    BasicChargeBasis,
    CatalogueError,
    Quote,
    RatingError,
    RatingInput,
    UnknownTariff,
    rate,
)

PROG = "gridcounter quote"
NUMBER_FIELDS = ("kwh", "peak", "flat", "valley", "critical_peak", "ytd_kwh", "capacity_kva", "demand_kw",
                 "contract_demand_kw", "kvarh")
PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")
MAX_DAYS = 366


def default_tariff_dirs() -> list[Path]:
    """As settings does: GRIDCOUNTER_TARIFF_DIRS (os.pathsep-separated), else the repository's tariffs/."""
    configured = os.environ.get("GRIDCOUNTER_TARIFF_DIRS")
    if configured is not None:
        return [Path(p) for p in configured.split(os.pathsep) if p]
    return [Path(__file__).resolve().parents[4] / "tariffs"]


def billing_period(period: str, days: int | None) -> tuple[date, date]:
    """'YYYY-MM' → [first of month, first of next month), or [first, first + days) when days is given."""
    match = PERIOD_RE.match(period or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        raise RatingError("period", f"must be a month written YYYY-MM, not {period!r}")
    start = date(int(match.group(1)), int(match.group(2)), 1)
    if days is None:
        end = date(start.year + 1, 1, 1) if start.month == 12 else date(start.year, start.month + 1, 1)
        return start, end
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise RatingError("days", f"must be a whole number of days from 1 to {MAX_DAYS}, not {days!r}")
    return start, start + timedelta(days=days)


def rating_input(*, period: str, days: int | None = None, household_size: int | None = None,
                 basic_charge_basis: str | None = None, **numbers: Decimal | None) -> RatingInput:
    """The RatingInput for a month (`period`) and the metered quantities; shared by the CLI and the API."""
    start, end = billing_period(period, days)
    basis = None
    if basic_charge_basis is not None:
        try:
            basis = BasicChargeBasis(basic_charge_basis)
        except ValueError:
            raise RatingError("basic_charge_basis", "must be CAPACITY or DEMAND") from None
    values = {name: value for name, value in numbers.items() if value is not None}
    unknown = set(values) - set(NUMBER_FIELDS)
    if unknown:
        raise RatingError(sorted(unknown)[0], "is not a rating input")
    return RatingInput(start_date=start, end_date=end, household_size=household_size, basic_charge_basis=basis,
                       **values)


def plain(value: object) -> object:
    """Facts and lines as JSON: Decimals as plain strings (never floats), dates as ISO strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)  # StrEnum members become their code
    return value


def quote_to_dict(quote: Quote) -> dict[str, object]:
    """The quote as the CLI prints it and the API returns it."""
    return {
        "tariff": quote.tariff_id,
        "period": {"start_date": quote.start_date.isoformat(), "end_date": quote.end_date.isoformat(),
                   "days": (quote.end_date - quote.start_date).days},
        "total": format(quote.total, "f"),
        "lines": [
            {
                "code": line.code,
                "description": line.description,
                "description_en": line.description_en,
                "quantity": format(line.quantity, "f"),
                "unit": line.unit,
                "unit_price": format(line.unit_price, "f"),
                "amount": format(line.amount, "f"),
                "segment_start": line.segment_start.isoformat(),
                "segment_end": line.segment_end.isoformat(),
                "tier": line.tier,
                "tou_period": None if line.tou_period is None else str(line.tou_period),
            }
            for line in quote.lines
        ],
        "facts": plain(dict(quote.facts)),
    }


class _QuoteError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line on stderr, exit 2, no usage block
        raise _QuoteError(message)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Rate one month's usage under a catalogue tariff (no database needed).")
    parser.add_argument("--tariff", required=True, help="tariff id, e.g. BJ-RES-LT1KV")
    parser.add_argument("--tariff-file", type=Path, help="one more tariff file to load (replaces a tariff of the same id)")
    parser.add_argument("--period", required=True, help="the month, YYYY-MM")
    parser.add_argument("--days", type=int, help="rate [first of month, first + DAYS) instead of the whole month")
    usage = parser.add_argument_group("usage (either --kwh or the time-of-use registers)")
    usage.add_argument("--kwh", type=_decimal, help="untimed kWh")
    usage.add_argument("--peak", type=_decimal)
    usage.add_argument("--flat", type=_decimal)
    usage.add_argument("--valley", type=_decimal)
    usage.add_argument("--critical-peak", type=_decimal)
    parser.add_argument("--ytd-kwh", type=_decimal, default=Decimal(0), help="kWh used earlier this calendar year")
    parser.add_argument("--household-size", type=int)
    parser.add_argument("--capacity-kva", type=_decimal)
    parser.add_argument("--demand-kw", type=_decimal)
    parser.add_argument("--contract-demand-kw", type=_decimal)
    parser.add_argument("--basic-charge-basis", choices=[b.value for b in BasicChargeBasis],
                        help="needed only when both --capacity-kva and --demand-kw are given")
    parser.add_argument("--kvarh", type=_decimal, help="reactive energy, for the power-factor adjustment")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


OPTION_FOR_FIELD = {"start_date": "--period", "end_date": "--period", "segments": "--period"}


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        inp = rating_input(
            period=args.period, days=args.days, household_size=args.household_size,
            basic_charge_basis=args.basic_charge_basis,
            **{name: getattr(args, name) for name in NUMBER_FIELDS},
        )
        catalogue = read_catalogue(default_tariff_dirs(), extra_files=[args.tariff_file] if args.tariff_file else [])
        quote = rate(catalogue.get(args.tariff), inp)
    except _QuoteError as exc:
        return _fail(str(exc))
    except RatingError as exc:
        return _fail(f"{OPTION_FOR_FIELD.get(exc.field, '--' + exc.field.replace('_', '-'))}: {exc.detail}")
    except UnknownTariff as exc:
        return _fail(f"--tariff: {exc}")
    except CatalogueError as exc:
        return _fail(f"tariff catalogue: {exc}")
    if args.json:
        print(json.dumps(quote_to_dict(quote), ensure_ascii=False, indent=2))
    else:
        print(render_table(quote))
    return 0


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def render_table(quote: Quote) -> str:
    rows = [(line.description_en, format(line.quantity, "f"), line.unit, format(line.unit_price, "f"),
             format(line.amount, "f")) for line in quote.lines]
    header = ("", "quantity", "unit", "unit price", "amount")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    out = [f"Tariff {quote.tariff_id}, {quote.start_date} to {quote.end_date} (end exclusive)", ""]
    for row in [header, *rows]:
        out.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
    out.append("-" * (sum(widths) + 8))
    out.append("Total".ljust(widths[0]) + format(quote.total, "f").rjust(sum(widths[1:]) + 8) + " yuan")
    tiers = quote.facts.get("tiers")
    if isinstance(tiers, dict):
        out.append(f"Tiers ({tiers['basis']}): thresholds {', '.join(format(t, 'f') for t in tiers['thresholds'])} kWh;"
                   f" {format(tiers['usage_after'], 'f')} kWh counted, tier {tiers['tier_reached']} reached")
    pf = quote.facts.get("power_factor")
    if isinstance(pf, dict) and pf.get("assessed"):
        out.append(f"Power factor {pf['cos_phi']} against standard {pf['standard']}: {pf['percent']} %")
    return "\n".join(out)
