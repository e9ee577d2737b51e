"""The imports' progress bar: lines of the file done, on standard error when it is a terminal."""
from __future__ import annotations

import sys

from tqdm import tqdm


class FileProgress:
    """A `progress(lines_done, lines)` callback for the import use cases, drawing a tqdm bar."""

    def __init__(self, description: str):
        self.description = description
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.description, unit="line", file=sys.stderr, disable=None,
                            unit_scale=True)
        self.bar.total = max(total, done)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
