"""Which reading bills a fixed day: `pick_reading` and its vectorised form `pick_reading_frame` choose alike."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcounter.domain.billing.cycle import ReadingRef, pick_reading, pick_reading_frame

pytestmark = pytest.mark.nodb
FIXED = date(2025, 7, 15)


def ref(n: int, *, day: int, estimate: bool = False, minute: int = 0, status: str = "ACCEPTED") -> ReadingRef:
    at = datetime(2025, 7, 1, 1, tzinfo=UTC) + timedelta(days=day - 1, minutes=minute)
    return ReadingRef(reading_id=n, meter_id=1, register="TOTAL", read_date=at.date(), read_at=at.isoformat(),
                      value=Decimal(100 + n), source="HANDHELD", is_estimate=estimate, status=status)


def frame_pick(refs: list[ReadingRef]) -> int | None:
    frame = pl.DataFrame({"meter_id": [r.meter_id for r in refs], "reading_id": [r.reading_id for r in refs],
                          "read_date": [r.read_date for r in refs],
                          "read_at": [datetime.fromisoformat(r.read_at).strftime("%Y-%m-%d %H:%M:%S.%f")
                                      for r in refs],
                          "is_estimate": [r.is_estimate for r in refs], "status": [r.status for r in refs]},
                         schema={"meter_id": pl.Int64, "reading_id": pl.Int64, "read_date": pl.Date,
                                 "read_at": pl.String, "is_estimate": pl.Boolean, "status": pl.String})
    picked = pick_reading_frame(frame, fixed_date=FIXED, keys=["meter_id"])
    return picked["reading_id"][0] if picked.height else None


def test_the_closest_actual_latest_reading_bills_the_day():
    refs = [ref(1, day=13), ref(2, day=16, estimate=True), ref(3, day=16, minute=5), ref(4, day=16),
            ref(5, day=15, status="REJECTED"), ref(6, day=30)]
    assert pick_reading(refs, fixed_date=FIXED).reading_id == 3 == frame_pick(refs)
    assert pick_reading([ref(6, day=30)], fixed_date=FIXED) is None and frame_pick([ref(6, day=30)]) is None


readings = st.lists(st.builds(lambda day, estimate, minute, status: (day, estimate, minute, status),
                              st.integers(5, 25), st.booleans(), st.integers(0, 3),
                              st.sampled_from(["ACCEPTED", "HELD", "REJECTED", "SUPERSEDED"])), max_size=8)


@settings(max_examples=300, deadline=None)
@given(readings)
def test_both_forms_choose_the_same_reading(rows):
    refs = [ref(n, day=day, estimate=estimate, minute=minute, status=status)
            for n, (day, estimate, minute, status) in enumerate(rows, start=1)]
    chosen = pick_reading(refs, fixed_date=FIXED)
    assert frame_pick(refs) == (chosen.reading_id if chosen else None)
