"""Import the organisation from a CSV or Excel file: companies, cities, halls and staff, upserted by code.

One row is one record, named by its `kind` (company, city, hall, staff) and `code` (a staff member's code is the
username). `parent` names the company of a city, the city of a hall, the hall of a staff member, by code; a parent
may be defined earlier in the same file. Rows run in file order, each atomically; a bad row is reported with its line
and column and kept in the batch's rejected rows, and the import goes on. Importing the same file again changes
nothing. Staff are created without a usable password (none is ever read from a file): each one's first password is
set with `gridcounter changepassword USERNAME` (or in the admin), and the user changes it from there.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from gridcounter.application.batches import ChunkCounts, Progress, open_batch, run_chunks
from gridcounter.application.cells import nul_columns, nul_reason, text_problem
from gridcounter.application.registry import ImportResult, ensure_roles, finish_import
from gridcounter.application.tabular import Row, open_tabular
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.imports.models import ImportBatch
from gridcounter.data.org.models import City, Company, Hall, Role, StaffUser

__all__ = ["BATCH_KIND", "COLUMNS", "KINDS", "import_org"]

COLUMNS = ["kind", "code", "name", "parent"]
OPTIONAL_COLUMNS = ["province", "hall_kind", "address", "roles", "email"]
KINDS = ["company", "city", "hall", "staff"]
KIND_ALIASES = {"公司": "company", "城市": "city", "地市": "city", "营业厅": "hall", "供电所": "hall", "员工": "staff",
                "人员": "staff"}
BATCH_KIND = ImportBatch.Kind.ORG
CHUNK_ROWS = 200
TEXT_FIELDS = {
    "company": {"code": (Company, "code"), "name": (Company, "name")},
    "city": {"code": (City, "code"), "name": (City, "name"), "province": (City, "province")},
    "hall": {"code": (Hall, "code"), "name": (Hall, "name"), "address": (Hall, "address")},
    "staff": {"code": (StaffUser, "username"), "name": (StaffUser, "display_name"), "email": (StaffUser, "email")},
}


class RowProblem(Exception):
    def __init__(self, column: str, reason: str):
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


def _kind(values: dict[str, str]) -> str:
    text = values.get("kind", "")
    kind = KIND_ALIASES.get(text, text.lower())
    if kind not in KINDS:
        raise RowProblem("kind", _("must be one of {allowed}, got {value!r}").format(
            allowed=", ".join(KINDS), value=text))
    return kind


def _required(values: dict[str, str], column: str) -> str:
    text = values.get(column, "")
    if not text:
        raise RowProblem(column, _("is required"))
    return text


def _parent(model, code: str, column: str = "parent"):
    found = model.objects.filter(code=code).first()
    if found is None:
        raise RowProblem(column, _("no {kind} with code {code!r} (define it on an earlier line)").format(
            kind=model._meta.verbose_name, code=code))
    return found


def _upsert(model, lookup: dict, fields: dict) -> str:
    """Create or update the record; CREATED, UPDATED or UNCHANGED."""
    record = model.objects.filter(**lookup).first()
    if record is None:
        model.objects.create(**lookup, **fields)
        return "CREATED"
    changed = {name: value for name, value in fields.items() if getattr(record, name) != value}
    if not changed:
        return "UNCHANGED"
    for name, value in changed.items():
        setattr(record, name, value)
    record.save()
    return "UPDATED"


def _roles(text: str) -> list[Role]:
    wanted = [part.strip().upper() for part in text.replace(",", ";").replace("，", ";").split(";") if part.strip()]
    if not wanted:
        raise RowProblem("roles", _("is required: one or more of {allowed}").format(
            allowed=", ".join(Role.Code.values)))
    unknown = [code for code in wanted if code not in Role.Code.values]
    if unknown:
        raise RowProblem("roles", _("unknown role {value!r}; allowed: {allowed}").format(
            value=unknown[0], allowed=", ".join(Role.Code.values)))
    roles = ensure_roles()
    return [roles[code] for code in sorted(set(wanted))]


def _apply(values: dict[str, str]) -> str:
    kind = _kind(values)
    bad = nul_columns(values)
    if bad:
        raise RowProblem(bad[0], nul_reason())
    for column, (model, field) in TEXT_FIELDS[kind].items():
        problem = text_problem(values.get(column, ""), model=model, field=field)
        if problem:
            raise RowProblem(column, problem)
    code = _required(values, "code")
    if kind == "company":
        return _upsert(Company, {"code": code}, {"name": _required(values, "name")})
    if kind == "city":
        company = _parent(Company, _required(values, "parent"))
        province = _required(values, "province").upper()
        return _upsert(City, {"code": code}, {"company": company, "name": _required(values, "name"),
                                              "province": province})
    if kind == "hall":
        city = _parent(City, _required(values, "parent"))
        hall_kind = (values.get("hall_kind") or Hall.Kind.CITY).upper()
        if hall_kind not in Hall.Kind.values:
            raise RowProblem("hall_kind", _("must be one of {allowed}, got {value!r}").format(
                allowed=", ".join(Hall.Kind.values), value=values.get("hall_kind")))
        return _upsert(Hall, {"code": code}, {"city": city, "name": _required(values, "name"), "kind": hall_kind,
                                              "address": values.get("address", "")})
    hall = _parent(Hall, _required(values, "parent"))
    roles = _roles(values.get("roles", ""))
    user = StaffUser.objects.filter(username=code).first()
    fields = {"hall": hall, "display_name": values.get("name", ""), "email": values.get("email", "")}
    if user is None:
        user = StaffUser(username=code, **fields)
        user.set_unusable_password()  # the first password is set by `gridcounter changepassword`, never read
        user.save()
        user.roles.set(roles)
        return "CREATED"
    outcome = _upsert(StaffUser, {"username": code}, fields)
    if set(user.roles.values_list("pk", flat=True)) != {role.pk for role in roles}:
        user.roles.set(roles)
        outcome = "UPDATED"
    return outcome


def _import_row(row: Row, counts: ChunkCounts) -> None:
    try:
        with transaction.atomic():
            outcome = _apply(row.values)
    except RowProblem as problem:
        counts.reject(row, problem.column, problem.reason)
        return
    counts.count(outcome)


def import_org(*, path: str | Path, actor: Actor, imported_at: datetime, progress: Progress | None = None,
               chunk_rows: int = CHUNK_ROWS) -> ImportResult:
    """Import every good row of the org file (each atomically, in file order) and keep every bad one.

    Raises TabularFileError when the file cannot be read at all (nothing is written then).
    """
    table = open_tabular(path, required=COLUMNS)
    actor = Actor(user=actor.user, hall=actor.hall, channel=actor.channel,
                  reason=actor.reason or f"org import {table.name}")
    with acting_as(actor):
        batch, resumed = open_batch(kind=BATCH_KIND, table=table, imported_at=imported_at, user=actor.user)

        def do_chunk(rows: list[Row], counts: ChunkCounts) -> None:
            for row in rows:
                _import_row(row, counts)

        run_chunks(batch=batch, table=table, size=chunk_rows, progress=progress, do_chunk=do_chunk)
        return finish_import(batch, table=table, resumed=resumed, action="ORG_IMPORTED")
