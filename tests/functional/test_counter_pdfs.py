"""Receipts and bills as PDFs, read back the way a person would: the text in them, the fonts embedded, and a
picture of the first page saved under test-artifacts/ (rendered with poppler's pdftoppm)."""
from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from gridcounter.application.ledger import take_payment
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import BillLine
from gridcounter.data.ledger.models import Payment

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils is not installed")]

CJK_FONTS = ("WenQuanYi", "Noto Sans CJK", "NotoSansCJK", "Source Han")


def pdf_text(content: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def pdf_fonts(content: bytes, tmp_path: Path, name: str) -> list[str]:
    """pdffonts rows: ``name type encoding emb sub uni object ID``."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(content)
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    return out.splitlines()[2:]


def save_png(content: bytes, tmp_path: Path, artifacts_dir: Path, name: str) -> Path:
    """The first page at 110 dpi as test-artifacts/<name>.png."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(path),
                    str(artifacts_dir / name)], check=True)
    return artifacts_dir / f"{name}.png"


def ink_share(png: Path) -> float:
    """The share of the page that is not white: a blank or glyph-less page has almost none."""
    image = Image.open(png).convert("L")
    histogram = image.histogram()
    return 1 - sum(histogram[230:]) / sum(histogram)


def assert_chinese_fonts_embedded(rows: list[str]) -> None:
    assert rows, "the PDF uses no font at all"
    assert any(family in row for row in rows for family in CJK_FONTS), rows
    # every font is embedded (column "emb" is yes): the PDF looks the same on a PC without the font
    assert all(" yes " in f" {row} " for row in rows), rows


@pytest.fixture
def paid_latest_bill(small_city):
    """The clerk of the East hall takes the latest bill of the West hall's customer in cash."""
    with acting_as(Actor(user=small_city.clerk, hall=small_city.east, channel="WEB")):
        result = take_payment(account=small_city.account, amount_fen=small_city.latest_bill.amount_fen + 1000,
                              channel="CASH", hall=small_city.east, clerk=small_city.clerk,
                              idempotency_key="test-receipt-pdf", taken_at=timezone.now())
    return result.payment


@pytest.fixture
def bill_with_lines(small_city):
    """The latest bill with its tier lines and the readings it used, as the bill run writes them."""
    bill = small_city.latest_bill
    tier1 = Decimal(bill.kwh) - 40
    lines = [("TIER1", "第一档电量电费", "Tier 1 energy", tier1, Decimal("0.4883")),
             ("TIER2", "第二档电量电费", "Tier 2 energy", Decimal(40), Decimal("0.5383"))]
    amounts = [int((q * p * 100).to_integral_value()) for *_x, q, p in lines]
    for position, ((code, zh, en, quantity, price), amount) in enumerate(zip(lines, amounts, strict=True), 1):
        BillLine.objects.create(bill=bill, position=position, code=code, description=zh, description_en=en,
                                quantity=quantity, unit="kWh", unit_price=price, amount_fen=amount)
    bill.amount_fen = sum(amounts)
    bill.readings = {"TOTAL": [{"meter": small_city.new_meter.asset_number, "multiplier": "1",
                                "previous": {"value": "3240", "date": bill.start_date.isoformat(), "is_estimate": False},
                                "current": {"value": "3550", "date": bill.end_date.isoformat(), "is_estimate": False}}]}
    bill.save(update_fields=["amount_fen", "readings"])
    return bill


def test_the_receipt_pdf_names_the_hall_the_clerk_the_number_and_the_bills_paid_off(
        client, small_city, paid_latest_bill, tmp_path, artifacts_dir):
    client.force_login(small_city.clerk)
    payment = paid_latest_bill

    response = client.get(reverse("receipt_pdf", args=[payment.pk]) + "?lang=zh-hans")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="receipt-{payment.receipt_number}.pdf"'
    text = pdf_text(response.content, tmp_path, "receipt")
    assert "电费缴费收据" in text
    assert "城东营业厅" in text  # the hall that took the money, not the customer's home hall
    assert "李柜员" in text
    assert payment.receipt_number in text
    assert small_city.latest_bill.period in text  # the bill it paid off …
    assert "转为预存" in text and "10.00" in text  # … and the 10 yuan over, kept as credit
    assert "王建国" in text and "1100012345" in text
    assert "现金" in text
    assert_chinese_fonts_embedded(pdf_fonts(response.content, tmp_path, "receipt"))
    png = save_png(response.content, tmp_path, artifacts_dir, "receipt-pdf-zh")
    assert ink_share(png) > 0.01


def test_the_receipt_pdf_in_english_keeps_the_chinese_names_readable(
        client, small_city, paid_latest_bill, tmp_path, artifacts_dir):
    client.force_login(small_city.clerk_west)  # any clerk of the city reprints it

    response = client.get(reverse("receipt_pdf", args=[paid_latest_bill.pk]) + "?lang=en")

    text = pdf_text(response.content, tmp_path, "receipt-en")
    assert "Electricity payment receipt" in text and "Paid off" in text and "Kept as credit" in text
    assert "城东营业厅" in text and "李柜员" in text and paid_latest_bill.receipt_number in text
    assert_chinese_fonts_embedded(pdf_fonts(response.content, tmp_path, "receipt-en"))
    save_png(response.content, tmp_path, artifacts_dir, "receipt-pdf-en")


def test_the_receipt_of_another_city_is_not_found(client, small_city, paid_latest_bill):
    client.force_login(small_city.other_clerk)

    assert client.get(reverse("receipt_pdf", args=[paid_latest_bill.pk])).status_code == 404
    assert client.get(reverse("payment_done", args=[paid_latest_bill.pk])).status_code == 404
    assert Payment.objects.filter(pk=paid_latest_bill.pk).exists()


def test_the_bill_pdf_in_chinese_has_its_lines_explanation_and_usage_chart(
        client, small_city, bill_with_lines, tmp_path, artifacts_dir):
    client.force_login(small_city.clerk)
    bill = bill_with_lines

    response = client.get(reverse("bill_pdf", args=[bill.pk]) + "?lang=zh-hans")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content, tmp_path, "bill-zh")
    assert f"电费账单 {bill.period}" in text
    assert "第一档电量电费" in text and "第二档电量电费" in text
    assert "0.5383" in text
    assert "40 千瓦时" in text and "kWh" not in text  # the quantities' unit in Chinese
    assert f"¥{bill.amount_fen // 100:,}.{bill.amount_fen % 100:02d}" in text
    assert "比去年同期" in text and "已进入第二档电价" in text  # the explanation sentences
    assert "近 24 个月月度用电量" in text and "去年同月" in text  # the chart and its legend
    assert "3550" in text and "3240" in text  # the readings used
    assert "城东营业厅" in text  # printed at the clerk's hall
    assert "本户应缴" in text and "逾期天数" in text and "95598" in text  # what is owed, how to pay
    assert "今日缴清应付合计" in text or "未缴电费合计" in text or "本户无欠费" in text
    assert re.search(r"（\d+ 天）", text), "the period's days wrap inside their brackets"
    assert_chinese_fonts_embedded(pdf_fonts(response.content, tmp_path, "bill-zh"))
    png = save_png(response.content, tmp_path, artifacts_dir, "bill-pdf-zh")
    assert ink_share(png) > 0.02


def test_the_bill_pdf_in_english(client, small_city, bill_with_lines, tmp_path, artifacts_dir):
    client.force_login(small_city.clerk)

    response = client.get(reverse("bill_pdf", args=[bill_with_lines.pk]) + "?lang=en")

    text = pdf_text(response.content, tmp_path, "bill-en")
    assert "Electricity bill" in text and "Charges" in text
    assert "Tier 1 energy" in text and "Tier 2 energy" in text and "第一档" not in text
    assert "are now in price tier 2" in text  # the explanation in English
    assert "Monthly consumption over 24 months" in text and "same month last year" in text
    assert "王建国" in text  # the customer's name stays in Chinese and readable
    assert "What the account owes on" in text and "How to pay" in text and "95598" in text
    assert re.search(r"\(\d+ days\)", text), "the period's days wrap inside their brackets"
    assert_chinese_fonts_embedded(pdf_fonts(response.content, tmp_path, "bill-en"))
    png = save_png(response.content, tmp_path, artifacts_dir, "bill-pdf-en")
    assert ink_share(png) > 0.02


def test_a_held_bill_prints_with_a_stamp_and_another_citys_bill_is_not_found(client, small_city, bill_with_lines,
                                                                               tmp_path):
    bill_with_lines.status = "HELD"
    bill_with_lines.save(update_fields=["status"])
    client.force_login(small_city.clerk)

    text = pdf_text(client.get(reverse("bill_pdf", args=[bill_with_lines.pk]) + "?lang=zh-hans").content,
                    tmp_path, "held")

    assert "待审核 — 尚未发行" in text
    client.force_login(small_city.other_clerk)
    assert client.get(reverse("bill_pdf", args=[bill_with_lines.pk])).status_code == 404


def test_the_receipt_pdf_says_the_cash_received_and_the_change(client, small_city, tmp_path, artifacts_dir):
    with acting_as(Actor(user=small_city.clerk, hall=small_city.east, channel="WEB")):
        payment = take_payment(account=small_city.account, amount_fen=13184, channel="CASH", hall=small_city.east,
                               clerk=small_city.clerk, idempotency_key="test-receipt-tendered",
                               taken_at=timezone.now(), cash_tendered_fen=20000).payment
    client.force_login(small_city.clerk)

    zh = pdf_text(client.get(reverse("receipt_pdf", args=[payment.pk]) + "?lang=zh-hans").content, tmp_path, "zh")
    en = pdf_text(client.get(reverse("receipt_pdf", args=[payment.pk]) + "?lang=en").content, tmp_path, "en")

    assert re.search(r"实收现金\s+¥200\.00\s+·\s+找零\s+¥68\.16", zh), zh
    assert "Cash received" in en and "¥68.16" in en
    save_png(client.get(reverse("receipt_pdf", args=[payment.pk]) + "?lang=zh-hans").content, tmp_path,
             artifacts_dir, "receipt-pdf-tendered-zh")
