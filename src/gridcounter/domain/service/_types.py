"""Request types as data: the steps in order, who completes each, its documents, time limit and guards; versioned
by the date they take effect, each version with its source."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gridcounter.domain.working_days import LIBRARY, WorkingCalendar, due_date

from ._guards import GUARDS
from ._names import DOCUMENT_NAMES, ROLE_NAMES, STEP_NAMES


class RequestTypesError(ValueError):
    """The request types file cannot be used: the message names the version, type, step and key."""


class UnknownRequestType(LookupError):
    """No request type of that code is in force on that day."""


@dataclass(frozen=True)
class Step:
    code: str
    role: str
    days: int  # the time limit in working days, starting the working day after the step before it
    limit_source: str
    documents: tuple[frozenset[str], ...] = ()  # one document of every group
    guards: tuple[str, ...] = ()

    def due_after(self, start: date, *, calendar: WorkingCalendar = LIBRARY) -> date:
        """The last day this step is on time when it became current on `start`.
        Raises OutsideWorkingCalendar."""
        return due_date(start=start, days=self.days, calendar=calendar)

    def missing_documents(self, kinds) -> tuple[frozenset[str], ...]:
        """The groups of which none of `kinds` (the documents kept with the request) is one."""
        return tuple(group for group in self.documents if not group & set(kinds))


@dataclass(frozen=True)
class RequestType:
    code: str
    name_zh: str
    name_en: str
    usage_category: str
    voltage: str
    steps: tuple[Step, ...]
    effective_from: date
    source: str

    def name(self, *, zh: bool) -> str:
        return self.name_zh if zh else self.name_en

    def step(self, code: str) -> Step:
        for step in self.steps:
            if step.code == code:
                return step
        raise KeyError(code)

    def step_codes(self) -> tuple[str, ...]:
        return tuple(step.code for step in self.steps)

    def after(self, code: str) -> Step | None:
        """The step after `code`; None after the last."""
        codes = self.step_codes()
        index = codes.index(code)
        return self.steps[index + 1] if index + 1 < len(codes) else None


@dataclass(frozen=True)
class RequestTypeCatalogue:
    """Every version of the request types, oldest first."""

    versions: tuple[tuple[date, str, dict[str, RequestType]], ...]

    def in_force(self, *, on: date) -> dict[str, RequestType]:
        """The types of the newest version effective on `on` (empty before the first)."""
        chosen: dict[str, RequestType] = {}
        for effective_from, _source, types in self.versions:
            if effective_from <= on:
                chosen = types
        return chosen

    def get(self, code: str, *, on: date) -> RequestType:
        """Raises UnknownRequestType."""
        found = self.in_force(on=on).get(code)
        if found is None:
            raise UnknownRequestType(code)
        return found


def _required(table: dict, key: str, where: str):
    if key not in table:
        raise RequestTypesError(f"{where}: {key} is required")
    return table[key]


def _step(table: dict, *, where: str) -> Step:
    code = _required(table, "code", where)
    where = f"{where}, step {code}"
    if code not in STEP_NAMES:
        raise RequestTypesError(f"{where}: unknown step (known: {', '.join(STEP_NAMES)})")
    role = _required(table, "role", where)
    if role not in ROLE_NAMES:
        raise RequestTypesError(f"{where}: role: unknown role {role!r}")
    days = _required(table, "days", where)
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise RequestTypesError(f"{where}: days: must be a whole number of working days, 0 or more, not {days!r}")
    limit_source = str(_required(table, "limit_source", where)).strip()
    if not limit_source:
        raise RequestTypesError(f"{where}: limit_source: say where the time limit comes from")
    groups = []
    for group in table.get("documents", []):
        unknown = [kind for kind in group if kind not in DOCUMENT_NAMES]
        if unknown or not group:
            raise RequestTypesError(f"{where}: documents: unknown or empty group {group!r}")
        groups.append(frozenset(group))
    guards = tuple(table.get("guards", []))
    for guard in guards:
        if guard not in GUARDS:
            raise RequestTypesError(f"{where}: guards: unknown guard {guard!r} (known: {', '.join(GUARDS)})")
    return Step(code=code, role=role, days=days, limit_source=limit_source, documents=tuple(groups), guards=guards)


def catalogue_from_mapping(data: dict) -> RequestTypeCatalogue:
    """The catalogue of a parsed request-types file. Raises RequestTypesError."""
    versions = []
    for n, version in enumerate(data.get("versions", []), start=1):
        where = f"version {n}"
        effective_from = _required(version, "effective_from", where)
        if isinstance(effective_from, str):
            try:
                effective_from = date.fromisoformat(effective_from)
            except ValueError:
                raise RequestTypesError(f"{where}: effective_from: not a date YYYY-MM-DD: {effective_from!r}") from None
        if not isinstance(effective_from, date):
            raise RequestTypesError(f"{where}: effective_from: not a date: {effective_from!r}")
        source = str(_required(version, "source", where)).strip()
        if not source:
            raise RequestTypesError(f"{where}: source: say where these rules come from")
        types = {}
        for table in version.get("types", []):
            code = _required(table, "code", where)
            type_where = f"{where}, type {code}"
            steps = tuple(_step(step, where=type_where) for step in table.get("steps", []))
            if not steps:
                raise RequestTypesError(f"{type_where}: has no steps")
            if len({step.code for step in steps}) != len(steps):
                raise RequestTypesError(f"{type_where}: a step appears twice")
            types[code] = RequestType(
                code=code, name_zh=_required(table, "name_zh", type_where),
                name_en=_required(table, "name_en", type_where),
                usage_category=_required(table, "usage_category", type_where),
                voltage=_required(table, "voltage", type_where), steps=steps, effective_from=effective_from,
                source=source)
        versions.append((effective_from, source, types))
    if not versions:
        raise RequestTypesError("no [[versions]] in the file")
    dates = [v[0] for v in versions]
    if dates != sorted(dates) or len(set(dates)) != len(dates):
        raise RequestTypesError("versions must be in order of effective_from, one per date")
    return RequestTypeCatalogue(versions=tuple(versions))
