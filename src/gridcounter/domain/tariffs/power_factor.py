"""Monthly power factor from active and reactive energy, and the adjustment it earns ((83)水电财字第215号)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

HUNDREDTH = Decimal("0.01")


def power_factor(*, kwh: Decimal, kvarh: Decimal) -> Decimal | None:
    """cos φ = kWh / √(kWh² + kvarh²), rounded half up to 2 decimals; None when both are zero.

    The square root is only an estimate; the rounding is then decided exactly on squares, so a value
    lying on a half-hundredth is never rounded the wrong way by the limited precision of sqrt().
    """
    if kwh < 0 or kvarh < 0:
        raise ValueError("active and reactive energy must not be negative")
    apparent_sq = kwh * kwh + kvarh * kvarh
    if apparent_sq == 0:
        return None
    active_sq = kwh * kwh
    estimate = int((kwh / apparent_sq.sqrt() * 100).to_integral_value(rounding=ROUND_HALF_UP))
    # k is right when (k − ½)/100 ≤ cos φ < (k + ½)/100, i.e. (2k−1)² S ≤ 40000 P < (2k+1)² S.
    k = max(0, min(100, estimate))
    while k > 0 and 40000 * active_sq < (2 * k - 1) ** 2 * apparent_sq:
        k -= 1
    while k < 100 and 40000 * active_sq >= (2 * k + 1) ** 2 * apparent_sq:
        k += 1
    return Decimal(k) * HUNDREDTH
