"""The vectorised bill-run kernel: the rating engine's rules over Polars frames, one batch of routes at a time."""
from gridcounter.domain.kernel.rating import (
    COMPONENTS,
    LINE_SCHEMA,
    TOTAL_SCHEMA,
    USAGE_SCHEMA,
    lines_from_quote,
    rate_frame,
    rating_input_from_row,
    usage_frame,
)

__all__ = [
    "COMPONENTS", "LINE_SCHEMA", "TOTAL_SCHEMA", "USAGE_SCHEMA", "lines_from_quote", "rate_frame",
    "rating_input_from_row", "usage_frame",
]
