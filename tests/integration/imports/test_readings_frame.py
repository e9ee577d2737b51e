"""The readings import's frame form stores exactly what the reference (every row through `validate_reading`, one by
one) stores: the same readings with the same codes, findings, statuses and accounts, the same superseded estimates,
review items, site visits, rejected rows and audit events, for a generated file like the bench's (spikes,
decreases, swapped meters, rows listed twice, duplicates, estimates to replace, bad rows) in several chunks."""
import io
import zlib
from collections import Counter
from datetime import date, timedelta

import pytest
from django.db import transaction

from gridcounter.application.demo import seed_city
from gridcounter.application.readings import import_readings
from gridcounter.data.audit.context import Actor
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.imports.models import RejectedRow
from gridcounter.data.readings.models import Reading, ReviewItem, SiteVisitOrder
from gridcounter.data.registry.models import Installation
from tests.factories import readings
from tests.factories.cities import TOWN_NOW as NOW

pytestmark = pytest.mark.django_db
AS_OF = date(2026, 11, 15)
MONTHS = 14


def _month(back: int) -> tuple[int, int]:
    index = AS_OF.year * 12 + AS_OF.month - 1 - back
    return index // 12, index % 12 + 1


def _file(tmp_path) -> tuple:
    """One reading per register and month for each installed meter (as the bench writes them), with odd rows."""
    lines, estimates = ["meter,register,read_at,value,source"], []
    installed = list(Installation.objects.filter(removed_date__isnull=True).select_related("meter", "account__route")
                     .order_by("meter__asset_number"))
    for n, inst in enumerate(installed):
        asset, digits, day = inst.meter.asset_number, inst.meter.digits, inst.account.route.reading_day
        for r, register in enumerate(inst.meter.registers or ["TOTAL"]):
            seed = zlib.crc32(f"{asset}/{register}".encode()) & 0xFFFF
            value = seed % 5000
            for back in range(MONTHS, 0, -1):
                year, month = _month(back)
                use = 80 + (seed + back * 37 + r) % 150
                if (seed + back) % 13 == 0:
                    use *= 12  # spikes
                if (seed + back) % 17 == 0 or (n % 37 == 0 and back <= 5):
                    use = 0  # no use, for a month or for several in a row
                value = (value + use) % (10 ** digits)
                shown = value - 40 if (seed + back) % 11 == 0 else value  # decreases
                at = f"{year}-{month:02d}-{day:02d}T10:00"
                bad = (len(lines) + 1) % 97 == 0
                lines.append(f"{asset},{register},{at},{'-1' if bad else f'{max(shown, 0)}.{seed % 100:02d}'},AMI")
                if n % 23 == 0 and back == 3:
                    lines.append(lines[-1])  # listed twice: unchanged
                if n % 29 == 0 and back == 5:
                    lines.append(f"{asset},{register},{at},{max(shown, 0) + 7},HANDHELD")  # another value: DUPLICATE
                if n % 31 == 0 and back == 2 and register == (inst.meter.registers or ["TOTAL"])[0]:
                    estimates.append((inst, register, date(year, month, day), max(shown - 100, 0)))
    path = tmp_path / "readings.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, estimates


def _stored(batch_id: int) -> dict:
    return {
        "readings": sorted(Reading.objects.filter(import_batch_id=batch_id).values_list(
            "meter__asset_number", "register", "read_at", "value", "source", "status", "codes", "findings",
            "account__number", "supersedes__read_at", "created_at")),
        "estimates": sorted(Reading.objects.filter(is_estimate=True).values_list("meter__asset_number", "read_date",
                                                                                 "status")),
        "review": sorted(ReviewItem.objects.values_list("account__number", "register", "code", "fixed_date",
                                                        "reading__value", "finding")),
        "visits": sorted(SiteVisitOrder.objects.values_list("account__number", "reason_code", "reading__value",
                                                            "detail", "status")),
        "rejected": sorted(RejectedRow.objects.filter(batch_id=batch_id).values_list("line", "column", "reason")),
        "events": Counter(AuditEvent.objects.values_list("action", flat=True)),
        "history": Reading.history.filter(import_batch_id=batch_id).count(),
    }


def test_the_frame_form_stores_what_the_reference_stores_row_for_row(tmp_path):
    seed_city(accounts=120, city_code="IMF", as_of=AS_OF, stdout=io.StringIO())
    path, estimates = _file(tmp_path)
    for inst, register, day, value in estimates:
        readings.read(inst.meter, inst.account, day, value, register=register, source="ESTIMATE", is_estimate=True,
                      read_at=readings.local(day, 0), created_at=NOW - timedelta(days=400))
    actor = Actor(reason="import", channel="CLI")

    class Undo(Exception):
        pass

    outcomes = {}
    for reference in (True, False):
        try:
            with transaction.atomic():
                result = import_readings(path=path, actor=actor, as_of=NOW, chunk_rows=700, reference=reference)
                outcomes[reference] = (result.as_dict() | {"batch": None}, _stored(result.batch_id))
                raise Undo
        except Undo:
            pass
    (ref_result, ref), (frame_result, frame) = outcomes[True], outcomes[False]
    assert frame_result == ref_result
    for part in ref:
        assert frame[part] == ref[part], part
    codes = ref_result["codes"]
    assert {"SPIKE", "DECREASE", "DUPLICATE", "SWAP_SUSPECTED", "ZERO_STREAK"} <= set(codes), codes
    assert ref_result["unchanged"] > 0 and ref_result["rejected"] > 0
    assert any(status == Reading.Status.SUPERSEDED for _m, _d, status in ref["estimates"])
    assert len(ref["readings"]) == ref_result["created"] > 1000
