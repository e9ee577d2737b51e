"""The demo city, built step by step; each step is `build(*, as_of: date, stdout)` and is idempotent.

Other areas append their step (reading history, bills …) to STEPS, after the registry.
"""
from gridcounter.application.demo import bills, payments, readings, registry

STEPS = [
    registry.build,
    readings.build,
    bills.build,  # must stay after the readings step
    payments.build,  # after the bills step: pays the bill history, then takes today's payments
]


def run(*, as_of, stdout) -> None:
    """Run every step in order; each says what it did or that there was nothing to do."""
    for step in STEPS:
        step(as_of=as_of, stdout=stdout)
