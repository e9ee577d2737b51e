"""Numbers and dates as written: each rule's regular expression (published in the API document) and its function
accept exactly the same text."""
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gridcounter.domain import written
from gridcounter.domain.ledger import AMOUNT_TEXT, InvalidAmount, parse_yuan_amount

# the characters that matter, and some that must never pass: full-width forms, other scripts' digits, signs
NUMBERISH = st.text(alphabet="0123456789０１２３４５６７８９.．-+_ e,١٢٣①", max_size=14)


def accepted(parse, text) -> bool:
    try:
        parse(text)
    except (InvalidAmount, written.NotWritten):
        return False
    return True


@settings(max_examples=3000)
@given(NUMBERISH)
@example("0.00")
@example("100000000.00")
@example("100000000.001")
@example("99999999.99")
@example("０．０１")
@example("00.10")
def test_the_amount_pattern_is_the_amount_rule(text):
    assert (re.fullmatch(AMOUNT_TEXT, text) is not None) == accepted(parse_yuan_amount, text)


@settings(max_examples=1500)
@given(NUMBERISH)
def test_a_decimal_pattern_is_its_rule(text):
    pattern = written.decimal_pattern(whole=4, places=2)
    assert (re.fullmatch(pattern, text) is not None) == accepted(
        lambda t: written.decimal_from_text(t, pattern=pattern), text)


@pytest.mark.parametrize(("text", "value"), [("１２３．４５", Decimal("123.45")), ("12", Decimal(12)),
                                             ("０", Decimal(0))])
def test_full_width_digits_are_folded(text, value):
    assert written.decimal_from_text(text) == value


@pytest.mark.parametrize("text", ["1_000", "1e3", "NaN", "-1", "+1", " 1", "1,000", "١٢٣", "①", "1.", ".5", ""])
def test_anything_else_is_not_a_number(text):
    with pytest.raises(written.NotWritten):
        written.decimal_from_text(text)


@settings(max_examples=1500)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.sampled_from(["", "Z", "+08:00", "-12:00", "+14:00", "-23:59"]), st.sampled_from(["", ":%S", ":%S.%f"]))
def test_a_date_time_in_range_is_read_and_one_outside_is_out_of_range(moment, offset, seconds):
    moment = moment.replace(second=moment.second if seconds else 0, microsecond=moment.microsecond if "f" in seconds
                            else 0)
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M}{moment.strftime(seconds)}{offset}"
    if written.in_supported_range(moment.date()):
        read = written.datetime_from_text(text)
        assert read.replace(tzinfo=None) == moment
        aware = read if read.tzinfo else read.replace(tzinfo=timezone(timedelta(hours=8)))  # Asia/Shanghai's offset
        assert aware.astimezone(UTC).astimezone(timezone(timedelta(hours=8))) == aware  # no overflow
    else:
        with pytest.raises(written.OutOfRange):
            written.datetime_from_text(text)


@pytest.mark.parametrize("text", ["2026-02-29T10:00", "2026-13-01T10:00", "2026-11-15", "20261115T1000",
                                  "2026-11-15T24:00", "2026-11-15 10:00", "2026-11-15T10:00+08"])
def test_a_date_time_not_written_so_is_refused(text):
    with pytest.raises(written.NotWritten):
        written.datetime_from_text(text)


@settings(max_examples=800)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_the_date_pattern_knows_every_day_of_the_supported_years(day):
    matches = re.fullmatch(written.DATE_TEXT, day.isoformat()) is not None
    assert matches == written.in_supported_range(day)


@pytest.mark.parametrize(("text", "error"), [("2026-11", None), ("1950-01", None), ("2099-12", None),
                                             ("1949-12", written.OutOfRange), ("0001-01", written.OutOfRange),
                                             ("2026-13", written.NotWritten), ("2026/11", written.NotWritten)])
def test_a_month(text, error):
    if error is None:
        assert written.month_from_text(text) == (int(text[:4]), int(text[5:]))
    else:
        with pytest.raises(error):
            written.month_from_text(text)
