"""The withholding commands: export a batch to a file, import the bank's results, reconcile; refusals exit 2."""
from __future__ import annotations

import csv
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from gridcounter.data.withholding.models import WithholdingBatch
from gridcounter.domain.ledger import format_fen
from gridcounter.domain.withholding import EXPORT_COLUMNS
from tests.factories import withholding as wh

pytestmark = pytest.mark.django_db


def test_export_results_and_reconcile_from_the_command_line(small_city, tmp_path, capsys):
    wh.mandate(small_city)
    out = tmp_path / "icbc.csv"

    call_command("withholding_export", "--bank", "ICBC", "--city", "DEMO", "--as-of",
                 small_city.today.isoformat(), "--out", str(out))

    with open(out, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert (rows[0]["account"], rows[0]["amount"]) == ("1100012345", format_fen(small_city.latest_bill.amount_fen))
    batch = WithholdingBatch.objects.get(number=rows[0]["batch"])
    capsys.readouterr()

    results = wh.result_file(tmp_path, wh.result_rows(batch))
    call_command("withholding_results", str(results), "--json")
    first = json.loads(capsys.readouterr().out)
    call_command("withholding_results", str(results), "--json")
    second = json.loads(capsys.readouterr().out)
    call_command("withholding_reconcile", "--batch", batch.number, "--json")
    reconciled = json.loads(capsys.readouterr().out)

    assert (first["succeeded"], first["posted"], first["batches_closed"]) == (
        1, rows[0]["amount"], [batch.number])
    assert (second["succeeded"], second["posted"], second["unchanged"]) == (0, "0.00", 1)
    assert reconciled["closed"] and reconciled["balanced"]
    assert reconciled["states"]["SUCCEEDED"] == {"lines": 1, "total": rows[0]["amount"]}
    assert reconciled["items"][0]["receipt"].startswith("DEMO-W-")


@pytest.mark.parametrize(("name", "content"), [
    ("missing.csv", None), ("empty.csv", b""), ("gbk.csv", "batch,line,account,amount,result,transaction\n工商".encode("gbk")),
    ("columns.csv", b"batch,line,account\n"),
])
def test_an_unreadable_result_file_is_one_line_and_exit_2(small_city, tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError) as failure:
        call_command("withholding_results", str(path))
    assert failure.value.returncode == 2
    assert name in str(failure.value) and "\n" not in str(failure.value)


def test_export_refuses_an_unknown_bank_and_reconcile_an_unknown_batch(small_city):
    with translation.override("en"), pytest.raises(CommandError) as bank:
        call_command("withholding_export", "--bank", "NOBANK", "--city", "DEMO", "--as-of", "2026-12-01")
    with translation.override("en"), pytest.raises(CommandError) as batch:
        call_command("withholding_reconcile", "--batch", "ICBC20260101999")
    assert bank.value.returncode == 2 and "NOBANK" in str(bank.value)
    assert batch.value.returncode == 2 and "ICBC20260101999" in str(batch.value)


def test_export_without_a_city_asks_for_one_when_there_are_two(small_city):
    with translation.override("en"), pytest.raises(CommandError, match="--city") as failure:
        call_command("withholding_export", "--bank", "ICBC", "--as-of", "2026-12-01")
    assert failure.value.returncode == 2
