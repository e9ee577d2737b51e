"""Rounding of money (yuan to the fen) and energy (kWh to 0.01): always ROUND_HALF_UP, never float."""
from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
CENTI_KWH = Decimal("0.01")
ZERO = Decimal("0")


def yuan(x: Decimal) -> Decimal:
    """Round an amount to the fen, half up."""
    return x.quantize(FEN, rounding=ROUND_HALF_UP)


def kwh(x: Decimal) -> Decimal:
    """Round an energy quantity to 0.01 kWh, half up (the unit every allocation works in)."""
    return x.quantize(CENTI_KWH, rounding=ROUND_HALF_UP)


def split_proportionally(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` (a multiple of 0.01) over `weights` to 0.01, by cumulative half-up rounding.

    Part i is round(total × W_i / W) − round(total × W_{i−1} / W) with W_i the running sum of weights:
    the parts sum to `total` exactly, none is negative, a zero weight gets zero, and the last part takes
    the remainder. With two weights this is "round the first, the second takes the rest".
    """
    whole = sum(weights, ZERO)
    if whole == 0:
        if total != 0:
            raise ValueError("cannot split a non-zero quantity over zero weights")
        return [ZERO for _ in weights]
    parts: list[Decimal] = []
    running = ZERO
    previous = ZERO
    for weight in weights:
        running += weight
        rounded = kwh(total * running / whole)
        parts.append(rounded - previous)
        previous = rounded
    return parts
