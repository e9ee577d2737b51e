"""The payment form and the receipt as the clerk and the customer read them: a partly paid bill is not called
paid off, credit is said as credit, a huge amount is called too large, full-width digits are taken, a refused
amount stays in the field with the reason beside it, and channels booked only by their importers are refused."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from django.urls import reverse
from django.utils import timezone

from gridcounter.application.ledger import account_arrears, balance_fen, take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.ledger.models import Payment

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _form_key(client, account) -> str:
    page = client.get(reverse("account", args=[account.number])).content.decode()
    return re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)


def _pay(client, city, amount: str, *, channel: str = "CASH", headers=ZH, **fields):
    client.force_login(city.clerk)
    key = _form_key(client, city.account)
    return key, client.post(reverse("take_payment", args=[city.account.number]),
                            {"amount": amount, "channel": channel, "idempotency_key": key, **fields}, follow=True,
                            **headers)


def _partly_paid(city) -> Payment:
    with acting_as(Actor(user=city.clerk, hall=city.east, channel="WEB")):
        return take_payment(account=city.account, amount_fen=city.latest_bill.amount_fen // 2, channel="CASH",
                            hall=city.east, clerk=city.clerk, idempotency_key="partly", taken_at=timezone.now(),
                            at_counter=True).payment


def test_a_partly_paid_bill_is_not_called_paid_off_and_what_is_still_owed_is_stated(client, small_city):
    payment = _partly_paid(small_city)
    client.force_login(small_city.clerk)
    owed = balance_fen(small_city.account)

    zh = _text(client.get(reverse("payment_done", args=[payment.pk]), **ZH).content.decode())
    en = _text(client.get(reverse("payment_done", args=[payment.pk]), **EN).content.decode())

    assert "部分缴清" in zh and "已结清" not in zh
    assert "Partly paid" in en and "Paid off" not in en
    shown = f"{owed // 100:,}.{owed % 100:02d}"
    assert f"尚欠 ¥{shown}" in zh and f"Still owed ¥{shown}" in en
    assert "95598" in zh and "城东营业厅" in zh


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils is not installed")
def test_the_receipt_pdf_of_a_partly_paid_bill_says_paid_and_still_owed_with_hall_hotline_and_seal(
        client, small_city, tmp_path):
    payment = _partly_paid(small_city)
    small_city.east.address = "城东路 18 号"
    small_city.east.save(update_fields=["address"])
    client.force_login(small_city.clerk)

    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(client.get(reverse("receipt_pdf", args=[payment.pk]) + "?lang=zh-hans").content)
    text = re.sub(r"\s+", " ", subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                              check=True).stdout)

    assert "部分缴清" in text and "已结清" not in text
    assert "实收" in text and "尚欠" in text
    assert "95598" in text and "城东营业厅" in text and "城东路 18 号" in text
    assert "营业厅收费专用章" in text and "李柜员" in text


def test_an_overpayment_is_told_as_credit_not_as_a_negative_balance(client, small_city):
    owed = account_arrears(account=small_city.account, as_of=timezone.localdate()).total_due_fen  # with the penalty
    amount = owed + 1_156_919
    _key, response = _pay(small_city_client := client, small_city, f"{amount // 100}.{amount % 100:02d}",
                          confirmed=str(amount))  # far above what is owed: confirmed with the customer (next test)
    page = _text(response.content.decode())

    assert "现预存余额 11,569.19 元" in page
    assert "-11,569.19" not in page
    assert small_city_client  # the same client saw it


def test_a_payment_far_above_what_is_owed_is_confirmed_with_the_customer_before_it_is_booked(client, small_city):
    owed = balance_fen(small_city.account)
    typed = f"{owed * 11 // 100}.{owed * 11 % 100:02d}"  # eleven times the balance
    before = Payment.objects.filter(account=small_city.account).count()

    _key, response = _pay(client, small_city, typed, headers=EN)
    page = _text(response.content.decode())

    assert response.status_code == 200 and "Not booked yet" in page and "more than 10 times what is owed" in page
    assert Payment.objects.filter(account=small_city.account).count() == before  # nothing booked
    assert f'value="{typed}"' in response.content.decode()  # the amount as typed, to confirm or correct

    _key, other = _pay(client, small_city, "9" + typed, headers=EN, confirmed=str(owed * 11))
    assert "Not booked yet" in _text(other.content.decode())  # a confirmation is of the amount it was asked for
    _key, confirmed = _pay(client, small_city, typed, headers=EN, confirmed=str(owed * 11))

    assert Payment.objects.filter(account=small_city.account).count() == before + 1
    assert "booked" in _text(confirmed.content.decode())


def test_cash_tendered_gives_the_change_and_too_little_is_refused_beside_the_field(client, small_city):
    before = Payment.objects.filter(account=small_city.account).count()

    _key, short = _pay(client, small_city, "100.00", tendered="50")
    page = short.content.decode()

    assert short.status_code == 400 and 'data-testid="tendered-error"' in page
    assert "实收现金 50 元少于收费金额" in _text(page)
    assert Payment.objects.filter(account=small_city.account).count() == before

    _key, paid = _pay(client, small_city, "100.00", tendered="１５０")

    assert "实收现金 150.00 元，应找零 50.00 元" in _text(paid.content.decode())
    assert Payment.objects.filter(account=small_city.account).count() == before + 1


@pytest.mark.parametrize("typed", ["1e12", "99,999,999,999.99", "99999999999.99", "１０００００００００００"])
def test_a_huge_amount_is_called_too_large_and_stays_in_the_field_with_the_reason_beside_it(
        client, small_city, typed):
    key, response = _pay(client, small_city, typed, headers=EN)
    page = response.content.decode()

    assert response.status_code == 400
    error = re.search(r'<p class="alert error field-error" id="pay-amount-error"[^>]*>([^<]+)</p>', page)
    assert error and "is more than 100,000,000.00 yuan" in error.group(1)
    assert "two decimals" not in error.group(1)
    assert f'value="{typed}" aria-invalid="true"' in page  # what the clerk typed, not the balance
    assert 'data-testid="messages"' not in page  # not at the top of the page
    assert not Payment.objects.filter(idempotency_key=key).exists()


def test_full_width_digits_are_taken_as_a_payment_like_for_readings(client, small_city):
    key, response = _pay(client, small_city, "１２．３４", headers=EN)
    assert "12.34 yuan booked" in _text(response.content.decode())
    assert Payment.objects.get(idempotency_key=key).amount_fen == 1234


@pytest.mark.parametrize("channel", ["BANK_WITHHOLDING", "ONLINE"])
def test_the_api_refuses_a_clerk_booking_withholding_or_online_at_the_counter(client, small_city, channel):
    client.force_login(small_city.clerk)
    response = client.post("/api/payments", {"account": small_city.account.number, "amount": "10.00",
                                             "channel": channel},
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"api-{channel}", **ZH)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "CHANNEL_NOT_AT_COUNTER" and "柜台只收现金或银行卡" in body["detail"]
    assert body["field"] == "channel"
    assert not Payment.objects.filter(idempotency_key=f"api-{channel}").exists()
    described = client.get("/api/openapi.json").json()["components"]["schemas"]["PaymentIn"]["properties"]["channel"]
    assert "CHANNEL_NOT_AT_COUNTER" in described["description"]
