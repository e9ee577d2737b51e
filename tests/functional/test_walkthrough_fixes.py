"""What a new clerk, auditor, supervisor and reader tripped over on the demo city, each kept fixed.

Rule codes said in words, ledger lines in the page's language, bill dates that match the printed bill, a
chart not flattened by a held bill, the unit kWh not shouted as KWH, registers called 峰/平/谷, meters already
read this cycle marked as done, money in messages with thousands separators, percentage lines on the printed
bill that make sense, and chart axes that fit their margin.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from gridcounter.application.ledger import post_adjustment
from gridcounter.application.registry import change_account
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill, BillLine
from gridcounter.data.readings.models import Reading
from gridcounter.data.registry.models import Account
from gridcounter.domain.billing.periods import parse_period, period_of, shift_period
from tests.factories import cities, readings, registry
from tests.factories.browser import sign_in
from tests.factories.readings import on_time_day
from tests.factories.readings import utc as _at

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _main(response) -> str:
    page = response.content.decode()
    return page[page.index("<main"):page.index("</main>")]


def _hold(bill: Bill, *codes: str, kwh: str | None = None) -> Bill:
    bill.status = Bill.Status.HELD
    bill.hold_codes = list(codes)
    bill.explanation = [*bill.explanation, {"code": "BILL_SHOCK", "hold": True, "numbers": {},
                                            "text_zh": "电费突增：本期比去年同期高 82.4%。",
                                            "text_en": "Bill shock: 82.4% above the same period last year."}]
    fields = ["status", "hold_codes", "explanation"]
    if kwh is not None:
        bill.kwh = Decimal(kwh)
        fields.append("kwh")
    bill.save(update_fields=fields)
    return bill


# --- the customer screen -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_held_bill_says_why_in_words_and_the_auditor_gets_a_link_to_the_queue(client, small_city):
    _hold(small_city.latest_bill, "BILL_SHOCK")

    client.force_login(small_city.clerk)
    box = _text(_main(client.get(reverse("account", args=[small_city.account.number]))))
    assert f"{small_city.latest_bill.period} 的账单待审核: 电费突增" in box
    assert "BILL_SHOCK" not in box  # the clerk reads words, not the rule's code
    assert "在审核队列中查看" not in box  # a clerk has no review queue to go to

    client.force_login(small_city.auditor)
    page = client.get(reverse("account", args=[small_city.account.number]), **EN).content.decode()
    assert f"The bill for {small_city.latest_bill.period} is held for review: " in _text(page)
    assert "Bill shock" in _text(page)
    link = re.search(r'href="([^"]+)" data-testid="to-review"', page).group(1).replace("&amp;", "&")
    queue = client.get(link, **EN).content.decode()
    assert f'data-account="{small_city.account.number}"' in queue


@pytest.mark.django_db
def test_the_ledger_speaks_the_pages_language(client, small_city):
    period = small_city.latest_bill.period
    client.force_login(small_city.clerk)

    chinese = _text(_main(client.get(reverse("account", args=[small_city.account.number]))))
    english = _text(_main(client.get(reverse("account", args=[small_city.account.number]), **EN)))

    assert f"账单 {period} 电费" in chinese and f"Bill {period}" not in chinese
    assert f"Bill Period {period}" in english


@pytest.mark.django_db
def test_the_tariff_is_named_in_the_pages_language_not_only_by_its_code(client, small_city):
    from gridcounter.application.tariffs import get_catalogue

    Account.objects.filter(pk=small_city.account.pk).update(tariff_id="BJ-RES-LT1KV")
    tariff = get_catalogue().tariffs["BJ-RES-LT1KV"]
    client.force_login(small_city.clerk)

    chinese = _text(_main(client.get(reverse("account", args=[small_city.account.number]))))
    english = _text(_main(client.get(reverse("account", args=[small_city.account.number]), **EN)))

    assert f"{tariff.name} {tariff.id}" in chinese
    assert f"{tariff.name_en} {tariff.id}" in english


@pytest.mark.django_db
def test_bill_dates_end_on_the_last_day_billed_as_the_explanation_and_the_printed_bill_say(client, small_city):
    bill = small_city.latest_bill
    last_day = bill.end_date - timedelta(days=1)
    client.force_login(small_city.clerk)

    page = _text(_main(client.get(reverse("account", args=[small_city.account.number]))))

    assert f"{bill.start_date:%Y-%m-%d} – {last_day:%Y-%m-%d}" in page
    assert f"{bill.start_date:%Y-%m-%d} – {bill.end_date:%Y-%m-%d}" not in page


@pytest.mark.django_db
def test_a_held_bills_doubtful_usage_does_not_flatten_the_chart(client, small_city):
    # a mistyped reading: 99,999 kWh held for review; the chart keeps the household's scale
    _hold(small_city.latest_bill, "SPIKE", kwh="99999")
    client.force_login(small_city.clerk)

    page = client.get(reverse("account", args=[small_city.account.number]), **EN).content.decode()
    chart = page[page.index('data-testid="usage-chart"'):page.index("</figure>")]

    assert "99,999" not in chart
    assert "99,999" in page  # the held bill itself is still listed, with its figures, under Bills
    axis = re.findall(r'text-anchor="end">([^<]+)</text>', chart)
    assert axis[-1] in {"500", "1000"}  # the household's own scale, not a 100k axis


@pytest.mark.django_db
def test_chart_axes_of_a_large_plant_fit_their_margin(client, small_city):
    for bill in small_city.bills.values():
        bill.kwh = bill.kwh * 5000  # a plant on a ×5000 current transformer
        bill.save(update_fields=["kwh"])
    client.force_login(small_city.clerk)

    chinese = client.get(reverse("account", args=[small_city.account.number])).content.decode()
    english = client.get(reverse("account", args=[small_city.account.number]), **EN).content.decode()

    assert "250万" in re.findall(r'text-anchor="end">([^<]+)</text>', chinese)
    assert "2.5M" in re.findall(r'text-anchor="end">([^<]+)</text>', english)


@pytest.mark.django_db
def test_a_payment_message_shows_big_amounts_as_on_the_screen(client, small_city):
    # a plant's charges: over a million yuan owed
    with acting_as(Actor(user=small_city.clerk, hall=small_city.east, reason="test data", channel="SYSTEM")):
        post_adjustment(account=small_city.account, amount_fen=123_456_700, description="plant charges",
                        reason="test data", effective_date=small_city.today, created_at=_at(small_city.today))
    client.force_login(small_city.clerk)
    page = client.get(reverse("account", args=[small_city.account.number])).content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)

    response = client.post(reverse("take_payment", args=[small_city.account.number]),
                           {"amount": "1000", "channel": "CASH", "idempotency_key": key}, follow=True, **EN)

    message = _text(response.content.decode())
    assert re.search(r"1,000\.00 yuan booked\. Balance now 1,2\d\d,\d{3}\.\d\d yuan\.", message)


# --- the review queue and the supervisor's day ---------------------------------------------------------------

@pytest.mark.django_db
def test_the_review_queue_names_rules_in_words_and_filters_by_them(client, small_city):
    _hold(small_city.latest_bill, "BILL_SHOCK")
    client.force_login(small_city.auditor)

    page = client.get(reverse("review_queue")).content.decode()

    assert '<option value="BILL_SHOCK">电费突增</option>' in page
    row = page[page.index('data-testid="held-bill"'):]
    assert 'title="BILL_SHOCK">电费突增</span>' in row
    assert small_city.account.number in client.get(reverse("review_queue") + "?rule=BILL_SHOCK").content.decode()


@pytest.mark.django_db
def test_the_day_view_links_held_bills_to_the_queue_by_rule(client, small_city):
    _hold(small_city.latest_bill, "BILL_SHOCK")
    client.force_login(small_city.supervisor)

    page = client.get(reverse("supervisor_day"), **EN).content.decode()

    assert re.search(r'<a href="/review/\?rule=BILL_SHOCK"><span class="rule"[^>]*>Bill shock</span> 1</a>', page)
    assert '<a href="/review/" data-testid="to-review">Held bills</a>' in page


@pytest.mark.django_db
def test_kwh_column_headings_read_kwh_not_KWH(client, small_city):
    # the unit is case-sensitive (kW·h): no heading style may upper-case it
    client.force_login(small_city.clerk)
    page = client.get(reverse("account", args=[small_city.account.number]), **EN).content.decode()
    assert '<th scope="col" class="num">kWh</th>' in page
    css = client.get("/static/web/app.css")
    text = b"".join(css.streaming_content if css.streaming else [css.content]).decode()
    thead_rules = re.findall(r"table\.data thead th\s*\{[^}]*\}", text)
    assert thead_rules and not any("uppercase" in rule for rule in thead_rules)


# --- the reader's route --------------------------------------------------------------------------------------

@pytest.fixture
def tou_route(small_city):
    """A time-of-use meter on a route due today: one flat read yesterday (this cycle), one not read yet."""
    w = small_city
    today = w.today
    route = registry.route(city=w.city, hall=w.east, code="TOU-R1", name="峰谷小区", reading_day=on_time_day(today),
                           reader=w.reader)
    stops = []
    for index, (account, old) in enumerate(((w.account, w.new_meter), (w.neighbour, w.neighbour_meter))):
        change_account(account=account, changes={"route": route, "walk_order": index + 1}, actor=registry.ACTOR)
        account.refresh_from_db()
        meter = registry.meter(asset_number=f"TOU{index}", registers=["PEAK", "FLAT", "VALLEY"])
        registry.exchange(account=account, old=old, new=meter, on=today - timedelta(days=60), final={}, initial={})
        read_on = today - timedelta(days=1) if index == 0 else today - timedelta(days=31)
        for register in ("PEAK", "FLAT", "VALLEY"):
            readings.read(meter, account, read_on, Decimal(100), register=register, read_at=_at(read_on),
                          created_at=_at(read_on))
        stops.append(account)
    return stops


@pytest.mark.django_db
def test_the_reader_sees_registers_by_name_and_what_is_already_read(client, small_city, tou_route):
    read, to_read = tou_route
    client.force_login(small_city.reader)

    page = client.get(reverse("reader_route")).content.decode()

    assert '<span class="register">峰</span>' in page and '<span class="register">谷</span>' in page
    assert '<span class="register">PEAK</span>' not in page
    assert "1 块表待抄" in _text(page) and "1 块本期已抄" in _text(page)
    # unread stops first: the stop to read, then the one read already (its re-read folded away)
    to_read_at, read_at = page.index(f'data-account="{to_read.number}"'), page.index(f'data-account="{read.number}"')
    assert to_read_at < read_at
    done = page[read_at:]
    assert "本期已抄" in done and '<details class="reread"><summary>重新抄读</summary>' in done  # folded away
    assert "本期已抄" not in page[to_read_at:read_at]


# --- the printed bill --------------------------------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils is not installed")
@pytest.mark.django_db
def test_a_power_factor_line_prints_its_basis_in_yuan(client, small_city, tmp_path):
    bill = small_city.latest_bill
    BillLine.objects.create(bill=bill, position=1, code="ENERGY", description="电度电费", description_en="Energy",
                            quantity=Decimal(1000), unit="kWh", unit_price=Decimal("0.6"), amount_fen=60000)
    # −0.3 % of 600.00 yuan: stored as 6.00 yuan per percentage point
    BillLine.objects.create(bill=bill, position=2, code="POWER_FACTOR", description="功率因数调整电费",
                            description_en="Power-factor adjustment", quantity=Decimal("-0.3"), unit="%",
                            unit_price=Decimal("6.0000"), amount_fen=-180)
    client.force_login(small_city.clerk)

    for lang, words in (("zh-hans", "基数 600.00"), ("en", "of 600.00")):
        content = client.get(reverse("bill_pdf", args=[bill.pk]) + f"?lang={lang}").content
        path = tmp_path / f"bill-{lang}.pdf"
        path.write_bytes(content)
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                              text=True).stdout
        line = next(row for row in text.splitlines() if "-0.3 %" in row)
        assert words in line and "6.0000" not in line and "-1.80" in line


# --- in a browser: what the eye sees -------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_opened_review_row_fits_the_screen_and_headings_say_kwh(page, live_server, small_city, artifacts_dir):
    bill = _hold(small_city.latest_bill, "BILL_SHOCK")
    Reading.objects.filter(account=small_city.account, status="HELD").update(
        findings=[{"code": "HIGH_USE", "severity": "HOLD", "numbers": {}, "reason_zh": "用电量偏高。" * 30,
                   "reason_en": "Usage is 4 times the recent daily average; check the reading. " * 6}])
    sign_in(page, base=live_server.url, username="auditor.east", password=small_city.password)
    page.goto(f"{live_server.url}/review/")

    page.locator(f"#bill-{bill.pk} button.open-bill").click()
    page.wait_for_selector("[data-testid=decide-form]")

    page.screenshot(path=str(artifacts_dir / "review-row-open.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # long findings wrap inside the card instead of pushing the page sideways
    assert "千瓦时" in page.locator("table.review > thead").inner_text()
    page.locator("form.langswitch button[value=en]").click()
    assert "kWh" in page.locator("table.review > thead").inner_text()  # as typed: not upper-cased to KWH


@pytest.mark.django_db
def test_a_full_page_of_search_results_does_not_claim_to_be_all_there_is(client, small_city):
    cities.namesakes(small_city, surname="赵", number_prefix="34", village="赵家村")
    client.force_login(small_city.clerk)

    page = _text(client.get("/search/", {"q": "赵"}, HTTP_HX_REQUEST="true").content.decode())

    assert "至少 20 个户号符合" in page and "找到 20 个户号" not in page


@pytest.mark.django_db
def test_a_time_of_use_meter_without_a_total_register_still_gets_its_usage_chart(client, small_city):
    account = small_city.neighbour
    Reading.objects.filter(account=account).delete()
    meter = registry.meter(asset_number="TOU-CHART", registers=["PEAK", "FLAT", "VALLEY"])
    registry.exchange(account=account, old=small_city.neighbour_meter, new=meter,
                      on=small_city.today - timedelta(days=400), final={}, initial={})
    # three monthly readings per register: 100 + 60 + 40 = 200 kWh a month
    for k, step in ((3, 0), (2, 1), (1, 2)):
        year, month = parse_period(shift_period(period_of(small_city.today), months=-k))
        day = date(year, month, 6)
        for register, per_month in (("PEAK", 100), ("FLAT", 60), ("VALLEY", 40)):
            readings.read(meter, account, day, Decimal(1000 + per_month * step), register=register,
                          read_at=_at(day), source="AMI", created_at=_at(day))
    client.force_login(small_city.clerk)

    page = client.get(reverse("account", args=[account.number]), **EN).content.decode()

    assert 'data-source="READINGS"' in page
    assert page.count(": 200 kWh") == 2  # two months of use, each peak + flat + valley
