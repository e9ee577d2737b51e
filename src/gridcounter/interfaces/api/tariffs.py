"""Tariff look-up and quotes over HTTP: GET /api/tariffs, POST /api/quote (same output as `gridcounter quote`)."""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from ninja import Field, Router, Schema

from gridcounter.application.tariffs import get_catalogue
from gridcounter.domain.tariffs import RatingError, Tariff, UnknownTariff, rate
from gridcounter.interfaces.api.contract import Month, Quantity, answers, error, whole_number
from gridcounter.interfaces.cli.quote import plain, quote_to_dict, rating_input

router = Router(tags=["tariffs"])

TARIFF_ID = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # what a catalogue id can be; an unknown one is 404


class QuoteRequest(Schema):
    tariff: str = Field(..., pattern=TARIFF_ID, description="tariff id, e.g. BJ-RES-LT1KV")
    period: Month
    days: whole_number(low=1, high=31) | None = Field(
        None, description="rate [first of month, first + days) instead of the whole month")
    kwh: Quantity | None = Field(None, description="untimed kWh (or give the time-of-use registers)")
    peak: Quantity | None = None
    flat: Quantity | None = None
    valley: Quantity | None = None
    critical_peak: Quantity | None = None
    ytd_kwh: Quantity = Field(Decimal(0), description="kWh used earlier in the same calendar year")
    household_size: whole_number(low=1, high=99) | None = None
    capacity_kva: Quantity | None = None
    demand_kw: Quantity | None = None
    contract_demand_kw: Quantity | None = None
    basic_charge_basis: Literal["CAPACITY", "DEMAND"] | None = None
    kvarh: Quantity | None = Field(None, description="reactive energy, for the power-factor adjustment")


# the rating's own names for what the request calls `period`
PERIOD_FIELDS = {"start_date": "period", "end_date": "period", "segments": "period"}


@router.get("/tariffs", response={200: list[dict]},
            summary="The tariff catalogue: every tariff with its dated versions and sources")
def list_tariffs(request):
    return [tariff_to_dict(t) for t in get_catalogue().tariffs.values()]


@router.post("/quote", response=answers({200: dict}, 404, 409, signed_in=False),
             summary="Rate a month's usage under a tariff (what `gridcounter quote --json` prints)")
def quote(request, payload: QuoteRequest):
    """404 TARIFF_NOT_FOUND for a tariff the catalogue does not have; 409 RATING_REFUSED when the tariff cannot
    rate this usage (no version in force that month, time-of-use only, no such period, a two-part tariff without
    its capacity or demand), naming the input."""
    numbers = payload.dict(exclude={"tariff", "period", "days", "household_size", "basic_charge_basis"})
    try:
        inp = rating_input(period=payload.period, days=payload.days, household_size=payload.household_size,
                           basic_charge_basis=payload.basic_charge_basis, **numbers)
        result = rate(get_catalogue().get(payload.tariff), inp)
    except RatingError as exc:
        field = PERIOD_FIELDS.get(exc.field, exc.field)
        return error(409, "RATING_REFUSED", f"{field}: {exc.detail}", field)
    except UnknownTariff as exc:
        return error(404, "TARIFF_NOT_FOUND", f"tariff: {exc}", "tariff")
    return quote_to_dict(result)


def tariff_to_dict(tariff: Tariff) -> dict[str, object]:
    versions = []
    for version in tariff.versions:
        prices = version.prices
        versions.append({
            "effective_from": version.effective_from,
            "effective_to": version.effective_to,
            "source": version.source,
            "note": version.note,
            "tier_basis": prices.basis,
            "thresholds_kwh": list(prices.thresholds),
            "untimed_prices": None if prices.untimed is None else list(prices.untimed),
            "tou_prices": {str(p): list(v) for p, v in prices.tou.items()},
            "critical_peak_months": sorted(prices.critical_months),
            "basic_charge": None if version.basic_charge is None else {
                "capacity_price": version.basic_charge.capacity_price,
                "demand_price": version.basic_charge.demand_price,
                "excess_demand_ratio": version.basic_charge.excess_demand_ratio,
                "excess_demand_multiplier": version.basic_charge.excess_demand_multiplier,
            },
            "power_factor": None if version.power_factor is None else {
                "table": version.power_factor.id, "standard": version.power_factor.standard,
            },
        })
    return plain({
        "id": tariff.id,
        "name": tariff.name,
        "name_en": tariff.name_en,
        "province": tariff.province,
        "usage_categories": list(tariff.usage_categories),
        "versions": versions,
    })
