"""The guards of a step: each a named rule that refuses the step, with a code and its reason in Chinese and English.

A step is checked in this order, the first refusal winning: another city's staff (OTHER_CITY), the wrong role
(WRONG_ROLE), a closed request (REQUEST_CLOSED), the step's own guards in the order the request type lists them,
the steps ahead of it (STEP_OUT_OF_ORDER), its documents (DOCUMENTS_MISSING). The named guards come before the order
so that a step tried too early says what it waits for ("no energising before the installation is complete"), not only
that it is not its turn.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._names import document_name, role_name, step_name


@dataclass(frozen=True)
class Refusal:
    """Why a step may not be completed now. str() is the English reason."""

    code: str
    text_zh: str
    text_en: str

    def text(self, *, zh: bool) -> str:
        return self.text_zh if zh else self.text_en

    def __str__(self) -> str:
        return self.text_en


@dataclass(frozen=True)
class RequestFacts:
    """What the guards know of a request: its city, the steps done, the documents kept, what is on record."""

    city_id: int
    current_step: str | None  # None once every step is done
    done_steps: frozenset[str]
    document_kinds: frozenset[str]
    meter_installation_on_record: bool
    account_tariff: str  # the created account's tariff; "" while there is no account
    energised: bool


@dataclass(frozen=True)
class Doer:
    """Who tries the step: their city and roles; an administrator acts in every city with every role."""

    city_id: int | None
    roles: frozenset[str]
    is_admin: bool = False


Guard = Callable[[RequestFacts, str], Refusal | None]


def _waits_for(holds: Callable[[RequestFacts], bool], *, code: str, zh: str, en: str) -> Guard:
    """A guard refusing `code` unless `holds(facts)`; `zh` and `en` say what the step waits for, `{step}` naming it."""

    def guard(facts: RequestFacts, step: str) -> Refusal | None:
        if holds(facts):
            return None
        return Refusal(code, zh.format(step=step_name(step, zh=True)), en.format(step=step_name(step, zh=False)))

    return guard


GUARDS: dict[str, Guard] = {
    "INSTALLATION_COMPLETE": _waits_for(
        lambda f: "INSTALLATION" in f.done_steps and f.meter_installation_on_record, code="INSTALLATION_NOT_COMPLETE",
        zh="计量装置尚未装好（“装表”未完成），不能办理“{step}”。",
        en="the meter installation is not complete yet; “{step}” must wait for it"),
    "READER_SIGNED_OFF": _waits_for(
        lambda f: "SIGN_OFF" in f.done_steps, code="READER_NOT_SIGNED_OFF",
        zh="抄表员尚未签认计量装置，不能办理“{step}”。",
        en="the meter reader has not signed off the meter; “{step}” must wait for it"),
    "ACCOUNT_WITH_TARIFF": _waits_for(
        lambda f: bool(f.account_tariff), code="NO_ACCOUNT_WITH_TARIFF",
        zh="尚未建立带电价的户号，不能办理“{step}”：送电后客户将无处交费。",
        en="no account with a tariff exists yet; “{step}” now would leave the customer with no account to pay into"),
    "METER_INSTALLATION_ON_RECORD": _waits_for(
        lambda f: f.meter_installation_on_record, code="NO_METER_INSTALLATION",
        zh="没有计量装置的安装记录，不能办理“{step}”。",
        en="there is no meter installation on record; “{step}” needs one"),
    "ENERGISED": _waits_for(
        lambda f: f.energised, code="NOT_ENERGISED",
        zh="尚未送电，不能办理“{step}”。",
        en="the supply is not energised yet; “{step}” must wait for it"),
    "INSPECTED": _waits_for(
        lambda f: "COMPLETION_INSPECTION" in f.done_steps, code="NOT_INSPECTED",
        zh="受电工程竣工检验尚未通过，不能办理“{step}”。",
        en="the completion inspection has not been passed; “{step}” must wait for it"),
}


def check_step(*, request_type, step_code: str, facts: RequestFacts, doer: Doer) -> Refusal | None:
    """The first refusal of `step_code` for `doer` (see the module's docstring for the order), or None."""
    step = request_type.step(step_code)
    if not doer.is_admin and doer.city_id != facts.city_id:
        return Refusal("OTHER_CITY", "该申请属于其他城市，只能由该市的工作人员办理。",
                       "this request belongs to another city; only that city's staff may work on it")
    if not doer.is_admin and step.role not in doer.roles:
        return Refusal("WRONG_ROLE",
                       f"“{step_name(step_code, zh=True)}”须由{role_name(step.role, zh=True)}办理。",
                       f"“{step_name(step_code, zh=False)}” is for the {role_name(step.role, zh=False)} to complete")
    if facts.current_step is None:
        return Refusal("REQUEST_CLOSED", "该申请的各环节均已办结。", "every step of this request is done")
    for name in step.guards:
        refusal = GUARDS[name](facts, step_code)
        if refusal is not None:
            return refusal
    if step_code != facts.current_step:
        if step_code in facts.done_steps:
            return Refusal("STEP_DONE", f"“{step_name(step_code, zh=True)}”已办结。",
                           f"“{step_name(step_code, zh=False)}” is done already")
        return Refusal("STEP_OUT_OF_ORDER",
                       f"须先办结“{step_name(facts.current_step, zh=True)}”，才能办理“{step_name(step_code, zh=True)}”。",
                       f"“{step_name(facts.current_step, zh=False)}” comes first; “{step_name(step_code, zh=False)}” "
                       f"cannot be completed before it")
    missing = step.missing_documents(facts.document_kinds)
    if missing:
        zh = "；".join("或".join(document_name(k, zh=True) for k in sorted(group)) for group in missing)
        en = "; ".join(" or ".join(document_name(k, zh=False) for k in sorted(group)) for group in missing)
        return Refusal("DOCUMENTS_MISSING",
                       f"“{step_name(step_code, zh=True)}”缺少材料：{zh}。",
                       f"“{step_name(step_code, zh=False)}” needs its documents: {en}")
    return None
