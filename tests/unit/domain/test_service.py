"""The service-request rules without a database: the request types file, each guard, the order a step is checked
in, and due dates on the Chinese working calendar."""
from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from gridcounter.domain.service import (
    GUARDS,
    Doer,
    RequestFacts,
    RequestTypesError,
    UnknownRequestType,
    catalogue_from_mapping,
    check_step,
)

RULES = Path(__file__).parents[3] / "rules" / "service-requests.toml"
CATALOGUE = catalogue_from_mapping(tomllib.loads(RULES.read_text()))
RESIDENTIAL = CATALOGUE.get("NEW_CONNECTION_RESIDENTIAL", on=date(2026, 12, 6))
HIGH_VOLTAGE = CATALOGUE.get("NEW_CONNECTION_HIGH_VOLTAGE", on=date(2026, 12, 6))
CITY = 7
FRESH = RequestFacts(city_id=CITY, current_step="APPLICATION", done_steps=frozenset(), document_kinds=frozenset(),
                     meter_installation_on_record=False, account_tariff="", energised=False)


def doer(*roles, city=CITY):
    return Doer(city_id=city, roles=frozenset(roles))


def at(step: str, **changes) -> RequestFacts:
    """The facts of a residential request whose steps before `step` are done."""
    codes = RESIDENTIAL.step_codes()
    done = frozenset(codes[:codes.index(step)])
    facts = replace(FRESH, current_step=step, done_steps=done, document_kinds=frozenset({"ID", "PROMISE"}),
                    meter_installation_on_record="INSTALLATION" in done,
                    account_tariff="BJ-RES-LT1KV" if "ACCOUNT" in done else "", energised="ENERGISE" in done)
    return replace(facts, **changes)


def refusal(step, facts, who):
    found = check_step(request_type=RESIDENTIAL, step_code=step, facts=facts, doer=who)
    return found.code if found else None


def test_the_three_new_connection_types_have_their_steps_in_order():
    assert RESIDENTIAL.step_codes() == ("APPLICATION", "SURVEY", "SUPPLY_PLAN", "INSTALLATION", "SIGN_OFF", "ACCOUNT",
                                        "ENERGISE", "FIRST_READING")
    assert HIGH_VOLTAGE.step_codes()[3:6] == ("DESIGN_REVIEW", "INTERIM_INSPECTION", "COMPLETION_INSPECTION")
    assert [s.role for s in RESIDENTIAL.steps] == ["CLERK", "INSTALLER", "CLERK", "INSTALLER", "METER_READER",
                                                  "CLERK", "INSTALLER", "METER_READER"]


def test_the_limits_add_up_to_the_state_grid_commitments():
    def total(kind, first, last):
        codes = kind.step_codes()
        return sum(s.days for s in kind.steps[codes.index(first):codes.index(last) + 1])

    low = CATALOGUE.get("NEW_CONNECTION_LOW_VOLTAGE", on=date(2026, 12, 6))
    # supply plan reply: residential 3, low-voltage 7, high-voltage single supply 15 working days
    assert [total(k, "SURVEY", "SUPPLY_PLAN") for k in (RESIDENTIAL, low, HIGH_VOLTAGE)] == [3, 7, 15]
    # installation and energising after inspection: residential 3, non-residential 5 working days
    assert [total(k, "INSTALLATION", "ENERGISE") for k in (RESIDENTIAL, low, HIGH_VOLTAGE)] == [3, 5, 5]


@pytest.mark.parametrize("start, days, due", [
    (date(2026, 2, 13), 2, date(2026, 2, 24)),  # Friday before the Spring Festival: Sat 14 worked, then 24 Feb
    (date(2026, 2, 15), 1, date(2026, 2, 24)),  # a start inside the holiday counts from its end
    (date(2026, 9, 30), 3, date(2026, 10, 10)),  # National Day: 8, 9 Oct and Saturday 10 Oct worked
    (date(2026, 12, 4), 0, date(2026, 12, 4)),  # the same day
])
def test_a_step_is_due_its_limit_in_working_days_after_the_day_it_became_current(start, days, due):
    step = replace(RESIDENTIAL.step("SURVEY"), days=days)

    assert step.due_after(start) == due


def test_one_document_plus_a_signed_promise_stands_for_the_proof_of_address():
    step = RESIDENTIAL.step("APPLICATION")

    assert step.missing_documents({"ID", "PROMISE"}) == ()
    assert step.missing_documents({"ID", "ADDRESS_PROOF"}) == ()
    assert step.missing_documents({"PROMISE"}) == (frozenset({"ID"}),)


@pytest.mark.parametrize("step, facts, who, code", [
    ("APPLICATION", FRESH, doer("CLERK"), "DOCUMENTS_MISSING"),
    ("APPLICATION", at("APPLICATION"), doer("CLERK", city=8), "OTHER_CITY"),
    ("APPLICATION", at("APPLICATION"), doer("INSTALLER"), "WRONG_ROLE"),
    ("SUPPLY_PLAN", at("SURVEY"), doer("CLERK"), "STEP_OUT_OF_ORDER"),
    ("APPLICATION", at("SURVEY"), doer("CLERK"), "STEP_DONE"),
    ("SIGN_OFF", at("INSTALLATION"), doer("METER_READER"), "INSTALLATION_NOT_COMPLETE"),
    ("ACCOUNT", at("INSTALLATION"), doer("CLERK"), "NO_METER_INSTALLATION"),
    ("ENERGISE", at("SURVEY"), doer("INSTALLER"), "INSTALLATION_NOT_COMPLETE"),
    ("ENERGISE", at("SIGN_OFF"), doer("INSTALLER"), "READER_NOT_SIGNED_OFF"),
    ("ENERGISE", at("ACCOUNT"), doer("INSTALLER"), "NO_ACCOUNT_WITH_TARIFF"),
    ("FIRST_READING", at("ENERGISE"), doer("METER_READER"), "NOT_ENERGISED"),
    ("FIRST_READING", replace(at("FIRST_READING"), current_step=None), doer("METER_READER"), "REQUEST_CLOSED"),
    ("ENERGISE", at("ENERGISE"), doer("INSTALLER"), None),
    ("ENERGISE", at("ENERGISE"), Doer(city_id=None, roles=frozenset(), is_admin=True), None),
])
def test_each_guard_refuses_with_its_code(step, facts, who, code):
    assert refusal(step, facts, who) == code


def test_every_refusal_has_its_reason_in_both_languages():
    for name, guard in GUARDS.items():
        found = guard(FRESH, "ENERGISE")
        assert found is not None, name
        assert found.text_zh and found.text_en and found.text_zh != found.text_en
        assert "送电" in found.text_zh and "Energised" in found.text_en


def test_a_type_is_the_version_in_force_on_the_day():
    with pytest.raises(UnknownRequestType):
        CATALOGUE.get("NEW_CONNECTION_RESIDENTIAL", on=date(2024, 5, 31))
    assert RESIDENTIAL.effective_from == date(2024, 6, 1) and "国家电网" in RESIDENTIAL.source


@pytest.mark.parametrize("change, message", [
    (lambda d: d["versions"][0].pop("source"), "source is required"),
    (lambda d: d["versions"][0]["types"][0]["steps"][0].update(role="JANITOR"), "unknown role"),
    (lambda d: d["versions"][0]["types"][0]["steps"][0].update(days=-1), "days"),
    (lambda d: d["versions"][0]["types"][0]["steps"][1].update(guards=["NOT_A_GUARD"]), "unknown guard"),
    (lambda d: d["versions"][0]["types"][0]["steps"][0].update(documents=[["PASSPORT_PHOTO"]]), "documents"),
    (lambda d: d["versions"][0]["types"][0]["steps"][0].pop("limit_source"), "limit_source"),
])
def test_a_broken_rules_file_is_refused_naming_what_is_wrong(change, message):
    data = tomllib.loads(RULES.read_text())
    change(data)

    with pytest.raises(RequestTypesError, match=message):
        catalogue_from_mapping(data)
