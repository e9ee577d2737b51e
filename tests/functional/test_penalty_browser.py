"""The late-payment penalty in a real browser, in both languages: the clerk sees the overdue bill, the penalty
accrued and the amount that leaves the customer owing nothing; paying only the bill leaves the penalty charged on
the customer screen with its working; a supervisor waives it there with a reason. Screenshots go to
test-artifacts/."""
from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from gridcounter.application.ledger import account_arrears, balance_fen
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.ledger.models import PenaltyCharge
from gridcounter.domain.ledger import format_fen
from tests.factories.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "zh-hans": {"accrued": "缴清逾期电费时一并计收", "charged": "电费违约金", "penalty_row": "违约金",
                "waive": "减免违约金", "reason": "首次逾期，客户住院", "waived": "已减免", "no_reason": "减免须填写原因"},
    "en": {"accrued": "charged when the overdue bills are paid", "charged": "Late-payment penalty on",
           "penalty_row": "late-payment penalty", "waive": "Waive the penalty", "reason": "first time late, in hospital",
           "waived": "is waived", "no_reason": "A waiver needs a reason"},
}


def _choose(page: Page, language: str) -> None:
    page.locator(f"form.langswitch button[value={language}]").click()
    expect(page.locator(f"form.langswitch button[value={language}]")).to_have_attribute("aria-pressed", "true")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_late_bill_paid_alone_leaves_its_penalty_which_a_supervisor_waives(page: Page, live_server, small_city,
                                                                              artifacts_dir, language):
    words = WORDS[language]
    account = small_city.account
    arrears = account_arrears(account=account, as_of=timezone.localdate())
    bill_only = format_fen(small_city.latest_bill.amount_fen)
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    _choose(page, language)

    # The clerk sees the overdue bill, the penalty accrued to today and what leaves the customer owing nothing
    page.goto(f"{live_server.url}/accounts/{account.number}/")
    expect(page.get_by_test_id("penalty")).to_contain_text(words["accrued"])
    expect(page.get_by_test_id("penalty")).to_contain_text(format_fen(arrears.penalty_fen))
    expect(page.locator("#pay-amount")).to_have_value(format_fen(arrears.total_due_fen))
    page.screenshot(path=str(artifacts_dir / f"penalty-offered-{language}.png"), full_page=True)

    # The customer pays the bill alone: the bill is paid, the penalty it charged stays owed
    page.locator("#pay-amount").fill(bill_only)
    page.locator('input[name="channel"][value="CARD"]').check()
    page.locator("section.payment button[type=submit]").click()
    expect(page.get_by_test_id("receipt")).to_be_visible()
    charge = PenaltyCharge.objects.get(account=account)
    assert charge.amount_fen == arrears.penalty_fen and balance_fen(account) == charge.amount_fen
    page.goto(f"{live_server.url}/accounts/{account.number}/")
    row = page.get_by_test_id("charged-penalty")
    expect(row).to_contain_text(words["charged"])
    expect(row).to_contain_text(format_fen(charge.amount_fen))
    expect(page.get_by_test_id("waive-penalty")).to_have_count(0)  # a clerk cannot waive it
    page.get_by_test_id("charged-penalty-working").locator("summary").click()
    page.screenshot(path=str(artifacts_dir / f"penalty-charged-clerk-{language}.png"), full_page=True)

    # A supervisor of the city opens the same screen and waives it, first without a reason, then with one
    page.get_by_role("button", name="退出" if language == "zh-hans" else "Sign out").click()
    sign_in(page, base=live_server.url, username="supervisor.east", password=small_city.password)
    page.goto(f"{live_server.url}/accounts/{account.number}/")
    page.get_by_test_id("charged-penalty-working").locator("summary").click()
    form = page.get_by_test_id("waive-penalty")
    form.locator("input[name=reason]").fill(" ")
    form.evaluate("f => f.requestSubmit()")
    expect(page.get_by_test_id("waive-error")).to_contain_text(words["no_reason"])  # beside the form, still open
    assert PenaltyCharge.objects.get(pk=charge.pk).status == "POSTED"
    page.get_by_test_id("waive-penalty").locator("input[name=reason]").fill(words["reason"])
    page.screenshot(path=str(artifacts_dir / f"penalty-waive-supervisor-{language}.png"), full_page=True)
    page.get_by_test_id("waive-penalty").get_by_role("button", name=words["waive"]).click()
    expect(page.get_by_test_id("messages")).to_contain_text(words["waived"])
    expect(page.get_by_test_id("charged-penalty")).to_have_count(0)
    expect(page.get_by_test_id("balance")).to_contain_text("¥0.00")
    page.screenshot(path=str(artifacts_dir / f"penalty-waived-{language}.png"), full_page=True)
    assert balance_fen(account) == 0
    event = AuditEvent.objects.get(action="PENALTY_WAIVED")
    assert event.username == "supervisor.east" and event.reason == words["reason"]
