"""The tariff catalogue as the running system sees it: read from the configured folders, cached."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

from gridcounter.domain.tariffs import Catalogue, CatalogueError, build_catalogue

RULES_FOLDER = "rules"


def read_catalogue(dirs: Sequence[Path], *, extra_files: Iterable[Path] = ()) -> Catalogue:
    """Every `*.toml` directly in each folder is a tariff; every `rules/*.toml` a regulation table.

    `extra_files` are tariffs being tried out: each replaces a catalogue tariff of the same id.
    Raises CatalogueError (naming the file) for a missing folder or a malformed file.
    """
    tariff_files: list[Path] = []
    rule_files: list[Path] = []
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise CatalogueError(f"{folder}: tariff folder not found")
        tariff_files.extend(sorted(folder.glob("*.toml")))
        rule_files.extend(sorted((folder / RULES_FOLDER).glob("*.toml")))
    return build_catalogue(
        tariff_sources=[_read(path) for path in tariff_files],
        rule_sources=[_read(path) for path in rule_files],
        extra_tariff_sources=[_read(Path(path)) for path in extra_files],
    )


def _read(path: Path) -> tuple[str, str]:
    try:
        return str(path), path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from None


@functools.cache
def get_catalogue() -> Catalogue:
    """The catalogue from settings.GRIDCOUNTER_TARIFF_DIRS, read once per process.

    Call `get_catalogue.cache_clear()` after changing the files or the setting. Raises CatalogueError.
    """
    # Imported here so that the Django-free `gridcounter quote` can use this module.
    from django.conf import settings

    return read_catalogue(settings.GRIDCOUNTER_TARIFF_DIRS)
