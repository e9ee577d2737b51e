"""The kernel run's summary: what a batch, a route and a whole run billed, held and skipped."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

KERNEL = "kernel"  # the vectorised engine: plain periods rated by the frames, the rest by the reference rules
REFERENCE = "reference"  # every account drafted by the reference rules, one by one (the kernel's check)
ENGINES = (KERNEL, REFERENCE)


@dataclass
class RunSummary:
    period: str
    engine: str = KERNEL
    routes: int = 0
    issued: int = 0
    held: int = 0
    skipped: int = 0
    not_due: int = 0
    kernel: int = 0  # accounts rated by the vectorised kernel
    per_account: int = 0  # accounts drafted by the reference rules, one by one
    per_account_reasons: Counter = field(default_factory=Counter)
    held_by_code: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    explained_one_by_one: int = 0  # kernel-rated bills explained by explain() (see billing.explanation_frame)
    reference_checked: int = 0  # kernel-rated bills drafted again by the reference rules (`_check`)
    reference_seconds: float = 0.0  # what that took

    def add(self, other: RunSummary) -> None:
        for name in ("routes", "issued", "held", "skipped", "not_due", "kernel", "per_account", "seconds",
                     "explained_one_by_one", "reference_checked", "reference_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.per_account_reasons.update(other.per_account_reasons)
        self.held_by_code.update(other.held_by_code)

    def as_dict(self) -> dict:
        return {"period": self.period, "engine": self.engine, "routes": self.routes, "issued": self.issued,
                "held": self.held, "skipped": self.skipped, "not_due": self.not_due, "kernel": self.kernel,
                "per_account": self.per_account, "explained_one_by_one": self.explained_one_by_one,
                "reference_checked": self.reference_checked, "reference_seconds": round(self.reference_seconds, 3),
                "per_account_reasons": dict(sorted(self.per_account_reasons.items())),
                "held_by_code": dict(sorted(self.held_by_code.items())), "seconds": round(self.seconds, 3)}
