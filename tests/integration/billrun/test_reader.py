"""A SQLite bill run reads, rates and stages the next batches in reading processes while it writes the current one.

The same bills as batches billed one after another, and a change committed by another connection between two
batches is billed, not the state read ahead before it. Subprocesses on scratch copies of one prepared SQLite file.
"""
import json
import sqlite3
from decimal import Decimal

import pytest
from django.conf import settings

from gridcounter.application.billrun import READERS
from tests.factories.scratch import finish, script

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def city(tmp_path):
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("reading ahead is SQLite's: PostgreSQL bills two batches at once on two connections")
    first = tmp_path / "city.sqlite3"
    finish(script(f"sqlite:///{first}", "prepare"))

    def copy(name: str) -> str:
        path = tmp_path / f"{name}.sqlite3"
        source, target = sqlite3.connect(first), sqlite3.connect(path)
        source.backup(target)
        source.close()
        target.close()
        return f"sqlite:///{path}"

    return copy


def _run(url: str, command: str) -> tuple[dict, list]:
    summary = json.loads(finish(script(url, command)).strip().splitlines()[-1])
    bills = json.loads(finish(script(url, "bills")).strip().splitlines()[-1])
    return summary, bills


def test_reading_ahead_bills_like_one_batch_after_another_and_sees_a_change_made_between_batches(city):
    one_url, ahead_url = city("one"), city("ahead")
    one_by_one, bills = _run(one_url, "run-one-by-one")
    ahead, bills_ahead = _run(ahead_url, "run-ahead")
    assert one_by_one["routes"] > 2 and len(one_by_one["prepared_here"]) == one_by_one["routes"]
    assert len(bills) == one_by_one["issued"] + one_by_one["held"] > 1000
    # only the first batch was read by the run's own connection; every other one by the reading process
    assert len(ahead["prepared_here"]) == 1 and ahead["routes"] == one_by_one["routes"]
    assert bills_ahead == bills
    # staged by the reading processes and copied in by the run: the same versions, entries, postings and audit
    # events, ids included, as written row by row from the run's own frames
    ledger = json.loads(finish(script(one_url, "ledger")).strip().splitlines()[-1])
    assert len(ledger["ledger_posting"]) == 2 * one_by_one["issued"] and len(ledger["audit_auditevent"]) > 1000
    assert json.loads(finish(script(ahead_url, "ledger")).strip().splitlines()[-1]) == ledger

    changed_url = city("changed")
    finish(script(changed_url, "change-reading"))
    _, bills_changed = _run(changed_url, "run-one-by-one")
    differs = [new for old, new in zip(bills, bills_changed, strict=True) if old != new]
    assert len(differs) == 1  # the account whose readings changed: 50 more on the dial, times the multiplier
    more = Decimal(differs[0][3]) - Decimal([b for b in bills if b[0] == differs[0][0]][0][3])
    assert more > 0 and more % 50 == 0

    during, bills_during = _run(city("during"), "run-ahead-changed")
    # the change was committed while the next READERS batches lay read ahead: those were read again, under their
    # own locks; the batches handed over after the change were read ahead again
    assert one_by_one["routes"] > 1 + READERS
    assert during["prepared_here"] == one_by_one["prepared_here"][:1 + READERS]
    assert bills_during == bills_changed


def test_a_run_whose_reading_process_is_killed_goes_on_reading_each_batch_itself(city):
    one_by_one, bills = _run(city("one"), "run-one-by-one")
    killed, bills_killed = _run(city("killed"), "run-ahead-reader-killed")
    # the first batch read here, the next READERS ahead; after the kill every later batch is read by the run itself
    assert killed["prepared_here"] == [one_by_one["prepared_here"][0], *one_by_one["prepared_here"][1 + READERS:]]
    assert killed["issued"] == one_by_one["issued"] and killed["held"] == one_by_one["held"]
    assert bills_killed == bills
