"""Tariffs: the catalogue (dated versions with sources) and the one rating engine."""
from gridcounter.domain.tariffs.catalogue import (
    Catalogue,
    CatalogueError,
    UnknownTariff,
    build_catalogue,
    parse_power_factor_rules,
    parse_tariff,
)
from gridcounter.domain.tariffs.model import (
    BasicChargeBasis,
    PowerFactorTable,
    PriceTable,
    Tariff,
    TariffVersion,
    TierBasis,
    TouPeriod,
)
from gridcounter.domain.tariffs.money import kwh, yuan
from gridcounter.domain.tariffs.power_factor import power_factor
from gridcounter.domain.tariffs.rating import (
    Quote,
    QuoteLine,
    RatingError,
    RatingInput,
    TierStatus,
    month_units,
    price_table,
    rate,
    rate_segments,
    tier_status,
    tier_thresholds,
)

__all__ = [
    "BasicChargeBasis", "Catalogue", "CatalogueError", "PowerFactorTable", "PriceTable", "Quote", "QuoteLine",
    "RatingError", "RatingInput", "Tariff", "TariffVersion", "TierBasis", "TierStatus", "TouPeriod", "UnknownTariff",
    "build_catalogue", "kwh", "month_units", "parse_power_factor_rules", "parse_tariff", "power_factor",
    "price_table", "rate", "rate_segments", "tier_status", "tier_thresholds", "yuan",
]
