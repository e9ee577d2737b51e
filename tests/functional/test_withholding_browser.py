"""A clerk signs a bank withholding mandate on the customer screen in a real browser, in both languages: a bank
account too short is refused beside its field, the corrected one is signed and shown masked, then cancelled with a
reason. Screenshots go to test-artifacts/."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from gridcounter.data.registry.models import Account
from gridcounter.data.withholding.models import Mandate
from tests.factories.browser import sign_in
from tests.factories.withholding import BANK_ACCOUNT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "zh-hans": {"bank": "中国工商银行", "too_short": "中国工商银行账号为 12 至 19 位数字，此账号为 8 位。",
                "signed": "代扣协议已签订", "reason": "客户改用网上缴费", "cancelled": "代扣协议已解除"},
    "en": {"bank": "Industrial and Commercial Bank of China",
           "too_short": "Industrial and Commercial Bank of China account numbers have 12 to 19 digits; this one has 8.",
           "signed": "Withholding mandate signed", "reason": "customer pays online now",
           "cancelled": "Withholding mandate cancelled"},
}


def _choose(page: Page, language: str) -> None:
    page.locator(f"form.langswitch button[value={language}]").click()
    expect(page.locator(f"form.langswitch button[value={language}]")).to_have_attribute("aria-pressed", "true")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_clerk_signs_a_mandate_after_a_refused_bank_account_then_cancels_it(
        page: Page, live_server, small_city, artifacts_dir, language):
    words = WORDS[language]
    sign_in(page, base=live_server.url, username="clerk.east", password=small_city.password)
    _choose(page, language)
    page.goto(f"{live_server.url}/accounts/{small_city.account.number}/")
    card = page.get_by_test_id("mandate")
    expect(card.get_by_test_id("mandate-none")).to_be_visible()

    # Given the customer's bank account typed with digits missing
    card.locator("#mandate-bank").select_option("ICBC")
    expect(card.locator("#mandate-holder")).to_have_value("王建国")  # the customer's name to start with
    card.locator("#mandate-bank-account").fill("62220202")
    card.get_by_role("button", name="签订代扣协议" if language == "zh-hans" else "Sign the mandate").click()

    # Then it is refused beside the field, in the clerk's language, with what was typed kept
    card = page.get_by_test_id("mandate")
    error = card.get_by_test_id("mandate-bank-account-error")
    expect(error).to_contain_text(words["too_short"])
    expect(card.locator("#mandate-bank-account")).to_have_attribute("aria-invalid", "true")
    expect(card.locator("#mandate-bank-account")).to_have_value("62220202")
    expect(card.locator("#mandate-bank")).to_have_value("ICBC")
    page.screenshot(path=str(artifacts_dir / f"withholding-mandate-refused-{language}.png"), full_page=True)
    assert not Mandate.objects.filter(account=small_city.account).exists()

    # When the whole number is typed, in groups as on the card
    card.locator("#mandate-bank-account").fill("6222 0202 0011 2233 445")
    card.get_by_role("button", name="签订代扣协议" if language == "zh-hans" else "Sign the mandate").click()

    # Then the mandate is signed and shown masked, with the bank's name, the hall and the day
    expect(page.get_by_test_id("messages")).to_contain_text(words["signed"])
    active = page.get_by_test_id("mandate-active")
    expect(active).to_contain_text(words["bank"])
    expect(page.get_by_test_id("mandate-bank-account")).to_have_text("6222 **** 3445")
    expect(active).to_contain_text(small_city.east.name)
    assert BANK_ACCOUNT not in page.content()
    page.screenshot(path=str(artifacts_dir / f"withholding-mandate-signed-{language}.png"), full_page=True)
    mandate = Mandate.objects.get(account=small_city.account, status=Mandate.Status.ACTIVE)
    assert (mandate.bank_account, mandate.signed_by_id) == (BANK_ACCOUNT, small_city.clerk.pk)
    assert Account.objects.get(pk=small_city.account.pk).bank_withholding

    # And cancelled with a reason, the sign form is offered again
    page.locator("#mandate-reason").fill(words["reason"])
    page.get_by_test_id("mandate-cancel").locator("button").click()
    expect(page.get_by_test_id("messages")).to_contain_text(words["cancelled"])
    expect(page.get_by_test_id("mandate-sign")).to_be_visible()
    mandate.refresh_from_db()
    assert (mandate.status, mandate.cancel_reason) == (Mandate.Status.CANCELLED, words["reason"])
