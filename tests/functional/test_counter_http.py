"""The counter over HTTP (Django test client): who gets which page, search, the customer screen, sign-in."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from gridcounter.application.ledger import account_arrears
from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.ledger.models import Payment
from gridcounter.data.org.models import Role, StaffUser
from gridcounter.data.registry.models import Account
from gridcounter.interfaces.web.search import field_probe, find_accounts
from tests.factories import cities

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(client, user):
    client.force_login(user)
    return client


def main_of(response) -> str:
    page = response.content.decode()
    return page[page.index("<main"):page.index("</main>")]


def account_url(account):
    return reverse("account", args=[account.number])


# --- who gets which page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/search/?q=王", "/accounts/1100012345/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, small_city, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_an_expired_session_typing_in_search_moves_the_whole_page_to_sign_in(client, small_city):
    response = client.get("/search/?q=王", HTTP_HX_CURRENT_URL="http://testserver/search/?q=王", **HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(f"{reverse('login')}?next=")


CUSTOMER_SERVICE = ["clerk", "clerk_west", "auditor", "supervisor", "account_manager", "admin"]
OTHER_ROLES = ["reader", "installer", "no_role"]


@pytest.mark.parametrize("who", CUSTOMER_SERVICE)
def test_customer_service_roles_open_search_and_the_customer_screen(client, small_city, who):
    signed_in(client, getattr(small_city, who))
    assert client.get("/").status_code == 200
    assert "王建国" in client.get("/search/?q=王", **HTMX).content.decode()
    response = client.get(account_url(small_city.account))
    assert response.status_code == 200
    assert "王建国" in response.content.decode()


@pytest.mark.parametrize("who", OTHER_ROLES)
def test_other_roles_get_a_start_page_but_no_customer_data(client, small_city, who):
    user = getattr(small_city, who)
    signed_in(client, user)

    home = client.get("/")
    assert home.status_code == 200
    assert 'id="q"' not in home.content.decode()
    assert client.get("/search/?q=王", **HTMX).status_code == 403
    refused = client.get(account_url(small_city.account))
    assert refused.status_code == 403
    assert "王建国" not in refused.content.decode()
    assert AuditEvent.objects.filter(action="ACCESS_DENIED", user_id=user.pk).exists()


def test_a_clerk_of_another_city_gets_not_found_and_the_attempt_is_audited(client, small_city):
    signed_in(client, small_city.other_clerk)

    response = client.get(account_url(small_city.account))

    assert response.status_code == 404
    assert "王建国" not in response.content.decode()
    event = AuditEvent.objects.get(action="ACCESS_DENIED", user_id=small_city.other_clerk.pk)
    assert event.object_id == str(small_city.account.pk)
    assert event.hall_id == small_city.other_hall.pk
    assert event.channel == "WEB"


def test_an_unknown_account_number_looks_the_same_as_another_citys(client, small_city):
    signed_in(client, small_city.other_clerk)
    unknown = client.get("/accounts/9999999999/")
    hidden = client.get(account_url(small_city.account))
    assert unknown.status_code == hidden.status_code == 404
    assert main_of(unknown) == main_of(hidden)


def test_the_navigation_follows_the_role(client, small_city):
    page = signed_in(client, small_city.clerk).get("/").content.decode()
    assert 'href="/admin/"' not in page
    client.logout()
    page = signed_in(client, small_city.admin).get("/").content.decode()
    assert 'href="/admin/"' in page


def test_the_header_shows_the_hall_and_the_user(client, small_city):
    page = signed_in(client, small_city.clerk).get("/").content.decode()
    assert "城东营业厅" in page
    assert "李柜员" in page


# --- find a customer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed, field", [
    ("110001234", "account number"),
    ("王建", "customer name"),
    ("11010119800106123x", "ID number"),  # lower-case x still finds the ID
    ("1380013", "phone"),
    ("ZJ2024", "meter asset number"),
    ("zj2019000", "meter asset number"),  # the exchanged meter still leads to the account
    ("示范市东城区和平里一巷3", "address"),
])
def test_search_finds_the_customer_by_the_start_of_any_identifying_field(client, small_city, typed, field):
    signed_in(client, small_city.clerk)
    page = client.get("/search/", {"q": typed}, HTTP_ACCEPT_LANGUAGE="en", **HTMX).content.decode()
    assert "1100012345" in page
    assert f"matched {field}" in page


def test_search_finds_the_given_name_without_the_surname(client, small_city):
    signed_in(client, small_city.clerk)
    page = client.get("/search/", {"q": "建国"}, **HTMX).content.decode()
    assert "1100012345" in page


def test_search_never_shows_another_citys_customers(client, small_city):
    signed_in(client, small_city.clerk)
    page = client.get("/search/", {"q": "王"}, **HTMX).content.decode()
    assert "王建国" in page and "王小明" in page
    assert "王五" not in page
    assert "2200098765" not in signed_in(client, small_city.clerk).get("/search/", {"q": "22"}, **HTMX).content.decode()


def test_search_shows_at_most_twenty_and_says_so(client, small_city):
    cities.namesakes(small_city, surname="李", number_prefix="33", village="李家村")
    signed_in(client, small_city.clerk)

    page = client.get("/search/", {"q": "李"}, HTTP_ACCEPT_LANGUAGE="en", **HTMX).content.decode()

    assert page.count('class="result"') == 20
    assert "only the first 20 are shown" in page


def test_enter_opens_the_first_result(client, small_city):
    signed_in(client, small_city.clerk)
    response = client.get("/search/", {"q": "王建", "go": "1"})
    assert response.status_code == 302
    assert response["Location"] == account_url(small_city.account)


def test_enter_with_nothing_found_stays_on_the_search_page(client, small_city):
    signed_in(client, small_city.clerk)
    response = client.get("/search/", {"q": "赵", "go": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "No account of your city matches" in response.content.decode()


def test_a_search_page_reloaded_shows_its_results(client, small_city):
    signed_in(client, small_city.clerk)
    page = client.get("/search/", {"q": "王建"}).content.decode()
    assert 'id="q"' in page and "1100012345" in page


def test_each_search_probe_uses_an_index(small_city):
    # The prefix condition must be one an index answers (the city filter is left out: on tables this small
    # the planner would start from the city index instead).
    probe = field_probe(scope=Account.objects.all(), path="customer__name", text="王")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # tiny tables: make the planner show what it would do at scale
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = probe.explain()
        assert "registry_customer_name" in plan and "Index Cond" in plan, plan
    else:
        sql, params = probe.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
        assert "INDEX registry_customer_name" in plan, plan


def test_search_scope_is_the_users_city_also_for_the_function(small_city):
    numbers = {hit.account.number for hit in find_accounts(user=small_city.other_clerk, query="王")}
    assert numbers == {"2200098765"}


# --- the customer screen ---------------------------------------------------------------------------------


def test_the_customer_screen_explains_the_latest_bill_in_chinese(client, small_city):
    page = signed_in(client, small_city.clerk).get(account_url(small_city.account)).content.decode()
    latest = small_city.latest_bill
    assert latest.period in page
    assert "比去年同期" in page
    assert "more than the same period last year" not in page
    assert "用电量是近期日均的 4 倍" in page  # the held reading, in the review items


def test_the_customer_screen_in_english(client, small_city):
    signed_in(client, small_city.clerk)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(account_url(small_city.account)).content.decode()
    assert "more than the same period last year" in page
    assert "比去年同期" not in page
    assert "Monthly consumption" in page
    assert "Usage is 4 times the recent daily average" in page


def test_the_balance_is_the_unpaid_latest_bill(client, small_city):
    page = signed_in(client, small_city.clerk).get(account_url(small_city.account)).content.decode()
    fen = small_city.latest_bill.amount_fen
    assert f"¥{fen // 100:,}.{fen % 100:02d}" in page


def test_the_customer_screen_shows_both_meters_and_masks_the_id(client, small_city):
    page = signed_in(client, small_city.clerk).get(account_url(small_city.account)).content.decode()
    assert "ZJ2019000123" in page and "ZJ2024000456" in page
    assert "11010119800106123X" not in page
    assert "110***********123X" in page


def test_without_bills_the_chart_comes_from_readings(client, small_city):
    page = signed_in(client, small_city.clerk).get(account_url(small_city.neighbour)).content.decode()
    assert 'data-source="READINGS"' in page
    # 100 → 260 → 400 kWh on the dial: 160 and 140 kWh used
    assert ": 160 kWh" in page or "：160 千瓦时" in page
    assert ": 140 kWh" in page or "：140 千瓦时" in page


# --- signing in and out ----------------------------------------------------------------------------------


def test_signing_in_rotates_the_session_and_is_audited(client, small_city):
    session = client.session
    session["before"] = "sign-in"
    session.save()
    before = session.session_key

    response = client.post(reverse("login"), {"username": "clerk.east", "password": small_city.password})

    assert response.status_code == 302 and response["Location"] == reverse("home")
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    event = AuditEvent.objects.get(action="SIGN_IN", user_id=small_city.clerk.pk)
    assert event.hall_id == small_city.east.pk
    assert event.ip_address == "127.0.0.1"


def test_passwords_are_stored_with_argon2(small_city):
    user = StaffUser.objects.create_user(username="new.clerk", password="a-long-Passw0rd-for-test")
    assert user.password.startswith("argon2$")


def test_a_wrong_password_is_refused_and_audited(client, small_city):
    response = client.post(reverse("login"), {"username": "clerk.east", "password": "wrong"},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()
    event = AuditEvent.objects.get(action="SIGN_IN_FAILED", username="clerk.east")
    assert event.detail == {"username": "clerk.east"}
    assert event.user_id == small_city.clerk.pk


def test_a_wrong_username_is_audited_with_the_name_typed(client, small_city):
    client.post(reverse("login"), {"username": "no.such.user", "password": "wrong"})
    event = AuditEvent.objects.get(action="SIGN_IN_FAILED", username="no.such.user")
    assert event.user_id is None


def test_five_failures_lock_the_sign_in_for_fifteen_minutes(client, small_city):
    for _attempt in range(5):
        client.post(reverse("login"), {"username": "clerk.east", "password": "wrong"})

    response = client.post(reverse("login"), {"username": "clerk.east", "password": small_city.password},
                           HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 429
    page = response.content.decode()
    assert "Signing in is locked for 15 minutes" in page
    assert AuditEvent.objects.filter(action="SIGN_IN_LOCKED_OUT", username="clerk.east").exists()
    assert "_auth_user_id" not in client.session


def test_the_locked_out_page_speaks_chinese_too(client, small_city):
    for _attempt in range(6):
        response = client.post(reverse("login"), {"username": "clerk.east", "password": "wrong"},
                               HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 429
    assert "登录已锁定 15 分钟" in response.content.decode()


def test_signing_out_ends_the_session(client, small_city):
    client.post(reverse("login"), {"username": "clerk.east", "password": small_city.password})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="SIGN_OUT", user_id=small_city.clerk.pk).exists()


def test_sign_out_is_a_post_only(client, small_city):
    signed_in(client, small_city.clerk)
    assert client.get(reverse("logout")).status_code == 405
    assert client.get("/").status_code == 200


def test_an_idle_session_ends(client, small_city):
    client.post(reverse("login"), {"username": "clerk.east", "password": small_city.password})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/").status_code == 200
    session = Session.objects.get(session_key=key)
    # every request pushes the expiry forward by the idle limit
    assert session.expire_date > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)

    # 31 idle minutes later
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_roles_listed_in_the_header(client, small_city):
    small_city.clerk.roles.add(Role.objects.get(code=Role.Code.CLERK))
    page = signed_in(client, small_city.clerk).get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Counter clerk" in page


# --- taking a payment at the counter ---------------------------------------------------------------------


def payment_form_key(page: str) -> str:
    marker = 'name="idempotency_key" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def test_a_clerk_takes_the_balance_in_cash_and_sees_the_receipt(client, small_city):
    signed_in(client, small_city.clerk)
    page = client.get(account_url(small_city.account)).content.decode()
    # the form offers the balance with the late-payment penalty that paying the overdue bill today charges
    fen = account_arrears(account=small_city.account, as_of=timezone.localdate()).total_due_fen
    assert fen > small_city.latest_bill.amount_fen
    amount = f"{fen // 100}.{fen % 100:02d}"
    assert f'value="{amount}"' in page

    response = client.post(reverse("take_payment", args=[small_city.account.number]),
                           {"amount": amount, "channel": "CASH", "idempotency_key": payment_form_key(page)},
                           HTTP_ACCEPT_LANGUAGE="en", follow=True)

    page = response.content.decode()
    payment = Payment.objects.get(account=small_city.account, amount_fen=fen)
    assert payment.hall == small_city.east and payment.clerk == small_city.clerk
    assert f"Receipt {payment.receipt_number}: {amount} yuan booked. Balance now 0.00 yuan." in page
    assert "¥0.00" in page


def test_submitting_the_same_payment_form_twice_books_once(client, small_city):
    signed_in(client, small_city.clerk)
    key = payment_form_key(client.get(account_url(small_city.account)).content.decode())
    form = {"amount": "50.00", "channel": "CARD", "idempotency_key": key}
    url = reverse("take_payment", args=[small_city.account.number])

    client.post(url, form)
    again = client.post(url, form, HTTP_ACCEPT_LANGUAGE="en", follow=True).content.decode()

    assert Payment.objects.filter(account=small_city.account, amount_fen=5000).count() == 1
    assert "was already booked; nothing was charged again" in again


def test_a_wrong_amount_is_refused_naming_the_field_and_nothing_is_booked(client, small_city):
    signed_in(client, small_city.clerk)
    key = payment_form_key(client.get(account_url(small_city.account)).content.decode())

    page = client.post(reverse("take_payment", args=[small_city.account.number]),
                       {"amount": "12.345", "channel": "CASH", "idempotency_key": key},
                       HTTP_ACCEPT_LANGUAGE="en", follow=True).content.decode()

    assert "Payment not booked. Amount (yuan): “12.345” is not an amount in yuan" in page
    assert not Payment.objects.filter(idempotency_key=key).exists()


def test_an_auditor_sees_no_payment_form_and_cannot_post_one(client, small_city):
    signed_in(client, small_city.auditor)
    page = client.get(account_url(small_city.account)).content.decode()
    assert 'name="idempotency_key"' not in page

    response = client.post(reverse("take_payment", args=[small_city.account.number]),
                           {"amount": "10.00", "channel": "CASH", "idempotency_key": "web-auditor-try"})

    assert response.status_code == 403
    assert not Payment.objects.filter(idempotency_key="web-auditor-try").exists()


def test_a_clerk_of_another_city_cannot_pay_in_for_the_account(client, small_city):
    signed_in(client, small_city.other_clerk)
    response = client.post(reverse("take_payment", args=[small_city.account.number]),
                           {"amount": "10.00", "channel": "CASH", "idempotency_key": "web-other-city"})
    assert response.status_code == 404
    assert not Payment.objects.filter(idempotency_key="web-other-city").exists()


def test_recent_customers_are_the_clerks_own_newest_first_and_outlive_the_sign_in(client, small_city):
    """Each customer screen opened puts the account first in the clerk's recent customers; another clerk's
    list is their own; the list is still there after signing out and in again."""
    signed_in(client, small_city.clerk)
    client.get(account_url(small_city.account))
    client.get(account_url(small_city.neighbour))
    client.get(account_url(small_city.account))  # opened again: first again, not twice
    client.logout()
    signed_in(client, small_city.clerk)

    home = client.get("/")
    assert [a.number for a in home.context["recent"]] == [small_city.account.number, small_city.neighbour.number]
    assert small_city.neighbour.number in main_of(home)

    other = client.__class__()
    signed_in(other, small_city.clerk_west)
    assert other.get("/").context["recent"] == []


def test_the_browser_s_icon_request_gets_the_project_icon_not_a_404(client):
    response = client.get("/favicon.ico", follow=True)

    assert response.redirect_chain == [("/static/web/favicon.svg", 301)]
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
