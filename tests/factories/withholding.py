"""Bank withholding test worlds: a mandate signed through the use case, and a bank's result file written as CSV."""
from __future__ import annotations

import csv
from pathlib import Path

from django.utils import timezone

from gridcounter.application.withholding import sign_mandate
from gridcounter.data.withholding.models import Mandate, WithholdingBatch
from gridcounter.domain.ledger import format_fen
from gridcounter.domain.withholding import RESULT_COLUMNS

BANK_ACCOUNT = "6222020200112233445"


def mandate(world, account=None, *, bank: str = "ICBC", bank_account: str = BANK_ACCOUNT,
            holder: str = "王建国") -> Mandate:
    """A mandate of ``account`` (the world's main one) signed at the East hall by its clerk."""
    return sign_mandate(account=account or world.account, bank_code=bank, holder_name=holder,
                        bank_account=bank_account, clerk=world.clerk, hall=world.east, signed_at=timezone.now())


def result_rows(batch: WithholdingBatch, *, outcomes: dict[int, tuple[str, str]] | None = None) -> list[dict]:
    """The bank's answer to every line of ``batch``: success (0000) unless ``outcomes`` gives (code, message)."""
    rows = []
    for line in batch.lines.select_related("account").order_by("line"):
        code, message = (outcomes or {}).get(line.line, ("0000", "成功"))
        rows.append({"batch": batch.number, "line": str(line.line), "account": line.account.number,
                     "amount": format_fen(line.amount_fen), "result": code,
                     "message": message, "transaction": f"T{batch.number}{line.line:05d}" if code == "0000" else ""})
    return rows


def result_file(folder: Path, rows: list[dict], *, name: str = "results.csv") -> Path:
    path = folder / name
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(RESULT_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path
