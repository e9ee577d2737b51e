"""The counter's bank withholding pages over HTTP: a mandate signed and cancelled on the customer screen, refusals
beside their fields in Chinese and English, and the supervisor's batches reconciled line by line."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from gridcounter.application.withholding import export_batch, import_results
from gridcounter.data.withholding.models import Mandate
from gridcounter.domain.ledger import format_fen
from tests.factories import withholding as wh

pytestmark = pytest.mark.django_db


def sign(client, account, **typed):
    form = {"bank": "ICBC", "holder": "王建国", "bank_account": wh.BANK_ACCOUNT, **typed}
    return client.post(reverse("sign_mandate", args=[account.number]), form, follow=True)


def test_a_clerk_signs_a_mandate_and_sees_it_masked(client, small_city):
    client.force_login(small_city.clerk)

    page = sign(client, small_city.account).content.decode()

    assert "6222 **** 3445" in page and wh.BANK_ACCOUNT not in page
    assert "中国工商银行" in page
    mandate = Mandate.objects.get(account=small_city.account)
    assert (mandate.signed_by, mandate.signed_hall) == (small_city.clerk, small_city.east)


@pytest.mark.parametrize(("language", "message"), [
    ("zh-hans", "代扣协议未签订。中国工商银行账号为 12 至 19 位数字，此账号为 8 位。"),
    ("en", "Mandate not signed. Industrial and Commercial Bank of China account numbers have 12 to 19 digits; this one has 8."),
])
def test_a_short_bank_account_is_refused_beside_the_field_in_the_users_language(client, small_city, language,
                                                                                  message):
    client.force_login(small_city.clerk)
    client.cookies["django_language"] = language

    response = client.post(reverse("sign_mandate", args=[small_city.account.number]),
                           {"bank": "ICBC", "holder": "王建国", "bank_account": "62220202"},
                           HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="mandate-bank-account-error"' in page and message in page
    assert 'value="62220202"' in page  # the form keeps what was typed
    assert not Mandate.objects.filter(account=small_city.account).exists()


def test_cancelling_asks_for_a_reason_then_cancels(client, small_city):
    wh.mandate(small_city)
    client.force_login(small_city.clerk_west)
    url = reverse("cancel_mandate", args=[small_city.account.number])

    refused = client.post(url, {"reason": ""}, HTTP_ACCEPT_LANGUAGE="en")
    done = client.post(url, {"reason": "customer pays online now"}, follow=True)

    assert refused.status_code == 400 and 'id="mandate-reason-error"' in refused.content.decode()
    mandate = Mandate.objects.get(account=small_city.account)
    assert (mandate.status, mandate.cancelled_by, mandate.cancel_reason) == (
        "CANCELLED", small_city.clerk_west, "customer pays online now")
    assert 'data-testid="mandate-sign"' in done.content.decode()


def test_another_citys_clerk_cannot_sign(client, small_city):
    client.force_login(small_city.other_clerk)

    assert sign(client, small_city.account).status_code == 404
    assert not Mandate.objects.filter(account=small_city.account).exists()


def test_an_auditor_sees_the_mandate_but_no_form(client, small_city):
    wh.mandate(small_city)
    client.force_login(small_city.auditor)

    page = client.get(reverse("account", args=[small_city.account.number])).content.decode()

    assert 'data-testid="mandate-active"' in page
    assert 'data-testid="mandate-cancel"' not in page and 'data-testid="mandate-sign"' not in page
    assert sign(client, small_city.account, bank="CCB").status_code == 403


def test_the_supervisor_reconciles_a_batch_of_the_city_only(client, small_city, tmp_path):
    wh.mandate(small_city)
    batch = export_batch(bank_code="ICBC", city=small_city.city, as_of=small_city.today,
                         created_at=timezone.now()).batch
    import_results(path=str(wh.result_file(tmp_path, wh.result_rows(batch))), now=timezone.now())
    client.force_login(small_city.supervisor)

    listing = client.get(reverse("withholding_batches")).content.decode()
    detail = client.get(reverse("withholding_batch", args=[batch.number])).content.decode()

    assert batch.number in listing
    line = batch.lines.get()
    assert line.payment.receipt_number in detail and format_fen(batch.total_fen) in detail
    client.force_login(small_city.other_supervisor)
    assert client.get(reverse("withholding_batch", args=[batch.number])).status_code == 404
    assert batch.number not in client.get(reverse("withholding_batches")).content.decode()


def test_the_day_view_shows_withholding_in_the_non_cash_share(client, small_city, tmp_path):
    from gridcounter.application.ledger import take_payment

    take_payment(account=small_city.neighbour, amount_fen=10000, channel="CASH", hall=small_city.west,
                 clerk=small_city.clerk_west, idempotency_key="cash-day", taken_at=timezone.now())
    wh.mandate(small_city)
    batch = export_batch(bank_code="ICBC", city=small_city.city, as_of=small_city.today,
                         created_at=timezone.now()).batch
    import_results(path=str(wh.result_file(tmp_path, wh.result_rows(batch))), now=timezone.now())
    withheld = batch.total_fen
    client.force_login(small_city.supervisor)

    page = client.get(reverse("supervisor_day"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Bank withholding" in page and "No clerk: online and bank withholding" in page
    share = (Decimal(withheld * 100) / Decimal(withheld + 10000)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert f"{share}%" in page
    assert f"non-cash {format_fen(withheld)} yuan" in page  # below 1,000 yuan: no thousands separator
