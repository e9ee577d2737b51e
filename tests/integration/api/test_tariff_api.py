"""The tariff API: the catalogue listing and quotes, with the same JSON as `gridcounter quote --json`."""
import pytest

from gridcounter.application.tariffs import get_catalogue


@pytest.fixture(autouse=True)
def fresh_catalogue():
    get_catalogue.cache_clear()
    yield
    get_catalogue.cache_clear()


def post_quote(client, **body):
    return client.post("/api/quote", data=body, content_type="application/json")


@pytest.mark.django_db
def test_the_catalogue_lists_every_tariff_with_versions_and_sources(client):
    response = client.get("/api/tariffs")

    assert response.status_code == 200
    tariffs = {t["id"]: t for t in response.json()}
    assert {"BJ-RES-LT1KV", "BJ-RES-1KV", "BJ-RES-SHARED", "SH-RES-TOU", "ZJ-RES-TOU", "SC-GC-TOU",
            "DEMO-LI-2P"} <= set(tariffs)
    bj = tariffs["BJ-RES-LT1KV"]
    assert bj["name"] == "北京市居民生活用电（不满1千伏）" and bj["name_en"] == "Beijing residential, below 1 kV"
    assert bj["province"] == "北京市" and bj["usage_categories"] == ["RESIDENTIAL"]
    version = bj["versions"][0]
    assert version["effective_from"] == "2012-07-01" and version["effective_to"] is None
    assert "0.4883" in version["source"]
    assert version["untimed_prices"] == ["0.4883", "0.5383", "0.7883"]
    assert tariffs["SC-GC-TOU"]["versions"][0]["tou_prices"]["CRITICAL_PEAK"] == ["1.3440"]


@pytest.mark.django_db
def test_a_quote_matches_the_hand_calculation(client):
    # ytd 3000; peak 200 + valley 100: 80 × 0.617 + 40 × 0.307 + 120 × 0.677 + 60 × 0.337
    # = 49.36 + 12.28 + 81.24 + 20.22 = 163.10
    response = post_quote(client, tariff="SH-RES-TOU", period="2024-11", peak="200", valley=100, ytd_kwh=3000)

    assert response.status_code == 200, response.content
    out = response.json()
    assert out["total"] == "163.10"
    assert [line["amount"] for line in out["lines"]] == ["49.36", "12.28", "81.24", "20.22"]
    assert out["lines"][0]["tou_period"] == "PEAK" and out["lines"][0]["tier"] == 1
    assert out["facts"]["tiers"]["usage_after"] == "3300.00"


@pytest.mark.django_db
def test_a_two_part_quote_with_excess_demand(client):
    # 420 × 40 = 16800.00; excess 80 × 80 = 6400.00; energy 2400.00; total 25600.00
    response = post_quote(client, tariff="DEMO-LI-2P", period="2024-10", peak=1000, flat=2000, valley=1000,
                          demand_kw=500, contract_demand_kw=400)
    assert response.status_code == 200, response.content
    assert response.json()["total"] == "25600.00"


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field", "message"), [
    ({"tariff": "SC-GC-TOU", "period": "2024-11", "kwh": 1}, "kwh", "time-of-use only"),
    ({"tariff": "SH-RES-TOU", "period": "2024-11", "peak": 1, "flat": 2}, "flat", "no flat period"),
    ({"tariff": "BJ-RES-LT1KV", "period": "1999-11", "kwh": 1}, "period", "no version in force"),
])
def test_a_quote_the_tariff_cannot_rate_is_a_409_naming_the_field(client, body, field, message):
    response = post_quote(client, **body)

    assert response.status_code == 409
    assert response.json()["code"] == "RATING_REFUSED" and response.json()["field"] == field
    assert message in response.json()["detail"]


@pytest.mark.django_db
def test_an_unknown_tariff_is_404(client):
    response = post_quote(client, tariff="NOPE", period="2024-11", kwh=1)

    assert response.status_code == 404
    assert response.json()["code"] == "TARIFF_NOT_FOUND" and response.json()["field"] == "tariff"
    assert response.json()["detail"].startswith("tariff: unknown tariff 'NOPE' (known: BJ-RES-1KV,")


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field", "code"), [
    ({"tariff": "", "period": "2024-11", "kwh": 1}, "tariff", "INVALID_REQUEST"),
    ({"tariff": "BJ-RES-LT1KV", "period": "2024/11", "kwh": 1}, "period", "INVALID_PERIOD"),
    ({"tariff": "BJ-RES-LT1KV", "period": "0001-01", "kwh": 1}, "period", "DATE_OUT_OF_RANGE"),
    ({"tariff": "BJ-RES-LT1KV", "period": "2024-11", "kwh": "lots"}, "kwh", "INVALID_NUMBER"),
    ({"tariff": "BJ-RES-LT1KV", "period": "2024-11", "kwh": -1}, "kwh", "INVALID_NUMBER"),
    ({"tariff": "BJ-RES-LT1KV", "period": "2024-11", "kwh": "1_000"}, "kwh", "INVALID_NUMBER"),
    ({"tariff": "BJ-RES-LT1KV", "period": "2024-11", "kwh": True}, "kwh", "INVALID_NUMBER"),
    ({"tariff": "BJ-RES-LT1KV", "period": "2024-11", "kwh": 1, "days": "5"}, "days", "INVALID_REQUEST"),
])
def test_a_body_the_document_refuses_is_a_422_naming_the_field(client, body, field, code):
    response = post_quote(client, **body)

    assert response.status_code == 422
    assert response.json()["code"] == code and response.json()["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")


@pytest.mark.django_db
def test_full_width_kwh_is_the_same_quote(client):
    ascii_digits = post_quote(client, tariff="BJ-RES-LT1KV", period="2024-11", kwh="123.5").json()
    full_width = post_quote(client, tariff="BJ-RES-LT1KV", period="2024-11", kwh="１２３．５").json()

    assert full_width == ascii_digits and ascii_digits["total"]


@pytest.mark.django_db
def test_the_document_states_what_the_quote_accepts(client):
    schema = client.get("/api/openapi.json").json()
    request = schema["components"]["schemas"]["QuoteRequest"]["properties"]

    assert request["tariff"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # so "" is not valid
    assert set(schema["paths"]["/api/quote"]["post"]["responses"]) == {"200", "404", "409", "422"}


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "words"), [("en", "/api/quote does not take PUT; it takes POST."),
                                                 ("zh-hans", "/api/quote 不接受 PUT 请求，只接受 POST。")])
def test_a_method_the_path_does_not_take_is_refused_with_the_one_error_body(client, language, words):
    response = client.put("/api/quote", data={}, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json() == {"code": "METHOD_NOT_ALLOWED", "field": "", "detail": words}
