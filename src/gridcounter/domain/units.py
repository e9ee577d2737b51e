"""Integer units, defined once: how the bill run's frames hold quantities without floats, and their exact rounding.

A column's suffix names its unit:

- ``_c``: hundredths (0.01 kWh, 0.01 kVA; a multiplier in hundredths), as the database's decimal(…, 2) columns;
- ``_e4``: ten-thousandths (10⁻⁴ kWh, kVA, kvarh; line quantities), the rating engine's quantity places;
- ``_e8``: 10⁻⁸ (unit prices in yuan);
- ``_fen``: money, 0.01 yuan.

A product of two such columns carries the sum of their places (0.01 kWh × a multiplier in hundredths is in 10⁻⁴
kWh). `half_up` is the vectorised form of ``Decimal.quantize(…, rounding=ROUND_HALF_UP)`` on these integers;
`fixed_text` writes one as ``str(Decimal)`` does; `decimal_of` turns one back into a Decimal.
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl

C = 10**2
E4 = 10**4
E8 = 10**8
I128 = pl.Int128()  # the kernels' working type: products of two scaled quantities stay exact


def half_up(num: pl.Expr, den: int | pl.Expr) -> pl.Expr:
    """num / den rounded to an integer, ties away from zero (Decimal's ROUND_HALF_UP), for den > 0. The result has
    num's type: cast num to I128 first where a product could pass 2⁶³."""
    q = (num.abs() * 2 + den) // (den * 2)
    return pl.when(num < 0).then(q * -1).otherwise(q)  # (Int128 has no negation)


def fixed_text(n: pl.Expr, places: int) -> pl.Expr:
    """An integer count of 10^-places as ``str(Decimal)`` shows it ("-12.30", "0.0001")."""
    scale = 10**places
    m = n.abs()
    return pl.concat_str([pl.when(n < 0).then(pl.lit("-")).otherwise(pl.lit("")), (m // scale).cast(pl.String),
                          pl.lit("."), (m % scale).cast(pl.String).str.zfill(places)])


def decimal_of(value: int, places: int) -> Decimal:
    """An integer count of 10^-places as the Decimal it stands for."""
    return Decimal(value).scaleb(-places)
