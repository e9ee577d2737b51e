"""Tariff look-up and quotes over HTTP: GET /api/tariffs, POST /api/quote (same output as `gridcounter quote`)."""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from django.http import JsonResponse
from ninja import Field, Router, Schema

from gridcounter.application.tariffs import get_catalogue
from gridcounter.domain.tariffs import RatingError, Tariff, UnknownTariff, rate
from gridcounter.interfaces.cli.quote import plain, quote_to_dict, rating_input

router = Router(tags=["tariffs"])


class QuoteRequest(Schema):
    tariff: str = Field(..., description="tariff id, e.g. BJ-RES-LT1KV")
    period: str = Field(..., description="the month, YYYY-MM", examples=["2024-11"])
    days: int | None = Field(None, description="rate [first of month, first + days) instead of the whole month")
    kwh: Decimal | None = Field(None, description="untimed kWh (or give the time-of-use registers)")
    peak: Decimal | None = None
    flat: Decimal | None = None
    valley: Decimal | None = None
    critical_peak: Decimal | None = None
    ytd_kwh: Decimal = Field(Decimal(0), description="kWh used earlier in the same calendar year")
    household_size: int | None = None
    capacity_kva: Decimal | None = None
    demand_kw: Decimal | None = None
    contract_demand_kw: Decimal | None = None
    basic_charge_basis: Literal["CAPACITY", "DEMAND"] | None = None
    kvarh: Decimal | None = Field(None, description="reactive energy, for the power-factor adjustment")


class ErrorOut(Schema):
    detail: str
    field: str


@router.get("/tariffs", summary="The tariff catalogue: every tariff with its dated versions and sources")
def list_tariffs(request):
    return [tariff_to_dict(t) for t in get_catalogue().tariffs.values()]


@router.post("/quote", response={200: dict, 400: ErrorOut},
             summary="Rate a month's usage under a tariff (what `gridcounter quote --json` prints)")
def quote(request, payload: QuoteRequest):
    numbers = payload.dict(exclude={"tariff", "period", "days", "household_size", "basic_charge_basis"})
    try:
        inp = rating_input(period=payload.period, days=payload.days, household_size=payload.household_size,
                           basic_charge_basis=payload.basic_charge_basis, **numbers)
        result = rate(get_catalogue().get(payload.tariff), inp)
    except RatingError as exc:
        return _refusal(detail=str(exc), field=exc.field)
    except UnknownTariff as exc:
        return _refusal(detail=f"tariff: {exc}", field="tariff")
    return quote_to_dict(result)


def _refusal(*, detail: str, field: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "field": field}, status=400, json_dumps_params={"ensure_ascii": False})


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
