"""`import_org`: a utility's companies, cities, halls and staff from a CSV or .xlsx file, upserted by code."""
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.utils import translation
from openpyxl import Workbook

from gridcounter.application.org import import_org
from gridcounter.data.audit.context import Actor
from gridcounter.data.imports.models import RejectedRow
from gridcounter.data.org.models import City, Hall, StaffUser

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "org-sample.csv"
AT = datetime(2026, 11, 6, 2, 0, tzinfo=UTC)
CLI = Actor(channel="CLI")


def test_the_sample_sets_up_a_city_with_its_halls_and_staff_and_keeps_the_two_bad_rows():
    result = import_org(path=SAMPLE, actor=CLI, imported_at=AT)

    assert (result.created, result.updated, result.unchanged) == (8, 0, 0)
    assert [(r.line, r.column) for r in result.rejected] == [(10, "parent"), (11, "roles")]
    xiangyang = City.objects.get(code="XY")
    assert (xiangyang.name, xiangyang.province, xiangyang.company.code) == ("襄阳", "HB", "HBEPC")
    assert Hall.objects.get(code="XY-02").kind == Hall.Kind.COUNTY
    supervisor = StaffUser.objects.get(username="xy.super")
    assert (supervisor.display_name, supervisor.hall.code) == ("李强", "XY-01")
    assert supervisor.role_codes() == {"CLERK", "SUPERVISOR"}
    assert not supervisor.has_usable_password()  # signs in only once the administrator has set a first password
    kept = RejectedRow.objects.filter(batch_id=result.batch_id).order_by("line")
    assert [(r.line, r.raw["code"]) for r in kept] == [(10, "XY-03"), (11, "xy.nobody")]


def test_importing_the_same_file_again_changes_nothing_and_keeps_a_set_password():
    import_org(path=SAMPLE, actor=CLI, imported_at=AT)
    clerk = StaffUser.objects.get(username="xy.clerk1")
    clerk.set_password("first-password-9")
    clerk.save()

    again = import_org(path=SAMPLE, actor=CLI, imported_at=AT)

    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)
    assert StaffUser.objects.get(username="xy.clerk1").check_password("first-password-9")


def test_a_changed_row_updates_the_record_and_a_staff_member_s_roles_become_the_file_s(tmp_path):
    import_org(path=SAMPLE, actor=CLI, imported_at=AT)
    changed = tmp_path / "org.csv"
    changed.write_text("kind,code,name,parent,roles\n"
                       "hall,XY-01,襄阳市区营业厅（新址）,XY,\n"
                       "staff,xy.super,李强,XY-02,SUPERVISOR\n", encoding="utf-8")

    result = import_org(path=changed, actor=CLI, imported_at=AT)

    assert (result.created, result.updated, result.rejected) == (0, 2, [])
    assert Hall.objects.get(code="XY-01").name == "襄阳市区营业厅（新址）"
    moved = StaffUser.objects.get(username="xy.super")
    assert (moved.hall.code, moved.role_codes()) == ("XY-02", {"SUPERVISOR"})


def test_an_excel_file_is_read_and_its_errors_are_in_the_user_s_language(tmp_path):
    book = Workbook()
    sheet = book.active
    for row in (["kind", "code", "name", "parent", "province"], ["company", "C1", "某公司", None, None],
                ["城市", "C1-CITY", "某市", "C1", "SH"], ["city", "C2-CITY", "另一市", "NOPE", "SH"],
                ["branch", "B1", "?", None, None]):
        sheet.append(row)
    path = tmp_path / "org.xlsx"
    book.save(path)

    with translation.override("zh-hans"):
        result = import_org(path=path, actor=CLI, imported_at=AT)

    assert result.created == 2
    assert City.objects.get(code="C1-CITY").company.code == "C1"
    assert [str(r) for r in result.rejected] == [
        "第 4 行，parent 列：没有代码为 'NOPE' 的公司（请在前面的行中先定义）",
        "第 5 行，kind 列：" + result.rejected[1].reason]
    assert "branch" in result.rejected[1].reason
