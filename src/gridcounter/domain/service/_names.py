"""The names staff and customers read for steps, roles and documents, in Chinese and English (one place)."""
from __future__ import annotations

STEP_NAMES: dict[str, tuple[str, str]] = {
    "APPLICATION": ("受理申请", "Application accepted"),
    "SURVEY": ("现场勘查", "Site survey"),
    "SUPPLY_PLAN": ("答复供电方案", "Supply plan"),
    "DESIGN_REVIEW": ("设计文件审核", "Design review"),
    "INTERIM_INSPECTION": ("中间检查", "Interim inspection"),
    "COMPLETION_INSPECTION": ("竣工检验", "Completion inspection"),
    "INSTALLATION": ("装表", "Meter installation"),
    "SIGN_OFF": ("抄表员签认", "Meter reader's sign-off"),
    "ACCOUNT": ("立户", "Account created"),
    "ENERGISE": ("送电", "Energised"),
    "FIRST_READING": ("现场首次抄表", "First reading on site"),
}

ROLE_NAMES: dict[str, tuple[str, str]] = {
    "CLERK": ("营业员", "counter clerk"),
    "METER_READER": ("抄表员", "meter reader"),
    "AUDITOR": ("核算员", "billing auditor"),
    "INSTALLER": ("装表接电人员", "installer"),
    "ACCOUNT_MANAGER": ("客户经理", "key-account manager"),
    "SUPERVISOR": ("班组长", "supervisor"),
}

DOCUMENT_NAMES: dict[str, tuple[str, str]] = {
    "ID": ("有效身份证明", "valid ID"),
    "ADDRESS_PROOF": ("用电地址产权证明", "proof of the address"),
    "PROMISE": ("承诺书（一证受理）", "signed promise (one document plus a promise)"),
    "DESIGN": ("受电工程设计文件", "design of the customer's installation"),
    "TEST_REPORT": ("竣工试验报告", "completion test report"),
    "OTHER": ("其他材料", "other document"),
}


def step_name(code: str, *, zh: bool) -> str:
    names = STEP_NAMES.get(code, (code, code))
    return names[0] if zh else names[1]


def role_name(code: str, *, zh: bool) -> str:
    names = ROLE_NAMES.get(code, (code, code))
    return names[0] if zh else names[1]


def document_name(code: str, *, zh: bool) -> str:
    names = DOCUMENT_NAMES.get(code, (code, code))
    return names[0] if zh else names[1]
