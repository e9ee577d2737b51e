"""The request types in force (rules/service-requests.toml), read from the file the settings name."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from gridcounter.domain.service import RequestTypeCatalogue, catalogue_from_mapping


def load_request_types(*, path: str | Path) -> RequestTypeCatalogue:
    """The catalogue of the file at `path`. Raises OSError, tomllib.TOMLDecodeError, RequestTypesError."""
    with open(path, "rb") as handle:
        return catalogue_from_mapping(tomllib.load(handle))


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> RequestTypeCatalogue:
    return load_request_types(path=path)


def request_types() -> RequestTypeCatalogue:
    """The catalogue of settings.GRIDCOUNTER_SERVICE_REQUEST_TYPES (reread when the file changes)."""
    from django.conf import settings

    path = Path(settings.GRIDCOUNTER_SERVICE_REQUEST_TYPES)
    return _cached(str(path), path.stat().st_mtime)
