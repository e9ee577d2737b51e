"""Usage chart geometry: monthly kWh bars with the same month last year beside them, for inline SVG."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from gridcounter.domain.billing.periods import same_period_last_year, shift_period

WIDTH = 960
HEIGHT = 260
LEFT = 56  # room for the kWh axis labels
RIGHT = 8
TOP = 24  # room for the unit above the axis
BOTTOM = 40  # room for the month labels
GRID_LINES = 4
_ONE = Decimal(1)


@dataclass(frozen=True)
class Bar:
    period: str
    kwh: Decimal | None
    last_year_kwh: Decimal | None
    x: int  # left edge of this month's bar
    last_year_x: int
    width: int
    y: int
    height: int
    last_year_y: int
    last_year_height: int
    label_x: int
    show_label: bool
    estimated: bool
    from_readings: bool  # no bill for the month: the figure comes from meter readings


@dataclass(frozen=True)
class GridLine:
    y: int
    kwh: int


@dataclass(frozen=True)
class UsageChart:
    bars: list[Bar]
    grid: list[GridLine]
    width: int
    height: int
    plot_left: int
    plot_bottom: int
    has_data: bool
    source: str  # "BILLS", "READINGS" or "BILLS_AND_READINGS"


def periods_ending(*, last_period: str, months: int) -> list[str]:
    """The ``months`` periods up to and including ``last_period``, oldest first."""
    return [shift_period(last_period, months=-offset) for offset in range(months - 1, -1, -1)]


def _nice_ceiling(value: Decimal) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 100
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, Decimal("2.5"), 5, 10):
        candidate = Decimal(step) * magnitude
        if candidate >= value:
            return int(candidate.to_integral_value(rounding=ROUND_HALF_UP))
    return 10 * magnitude


def _scaled(value: Decimal, *, maximum: int, span: int) -> int:
    return int((value * span / maximum).quantize(_ONE, rounding=ROUND_HALF_UP))


def usage_chart(*, kwh_by_period: dict[str, Decimal], estimated_periods: set[str], last_period: str,
                months: int = 24, source: str = "BILLS", read_periods: set[str] | None = None) -> UsageChart:
    """Bars for the ``months`` periods ending at ``last_period``; each has last year's month beside it."""
    shown = periods_ending(last_period=last_period, months=months)
    values = [kwh_by_period.get(p) for p in shown] + [kwh_by_period.get(same_period_last_year(p)) for p in shown]
    present = [v for v in values if v is not None]
    maximum = _nice_ceiling(max(present)) if present else 100
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width // months
    bar_width = max(2, (slot - 4) // 2)
    bottom = TOP + plot_height
    bars = []
    for index, period in enumerate(shown):
        kwh = kwh_by_period.get(period)
        last_year = kwh_by_period.get(same_period_last_year(period))
        slot_left = LEFT + index * slot + 2
        height = _scaled(max(kwh, Decimal(0)), maximum=maximum, span=plot_height) if kwh is not None else 0
        ly_height = (
            _scaled(max(last_year, Decimal(0)), maximum=maximum, span=plot_height) if last_year is not None else 0
        )
        bars.append(Bar(
            period=period, kwh=kwh, last_year_kwh=last_year,
            last_year_x=slot_left, x=slot_left + bar_width, width=bar_width,
            y=bottom - height, height=height, last_year_y=bottom - ly_height, last_year_height=ly_height,
            label_x=slot_left + bar_width, show_label=period.endswith(("-01", "-04", "-07", "-10")),
            estimated=period in estimated_periods,
            from_readings=period in (read_periods or set()),
        ))
    grid = [
        GridLine(y=bottom - plot_height * step // GRID_LINES, kwh=maximum * step // GRID_LINES)
        for step in range(GRID_LINES + 1)
    ]
    return UsageChart(bars=bars, grid=grid, width=WIDTH, height=HEIGHT, plot_left=LEFT, plot_bottom=bottom,
                      has_data=bool(present), source=source)
