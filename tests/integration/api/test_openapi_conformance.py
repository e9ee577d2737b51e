"""Schemathesis drives every operation of /api/openapi.json as three callers and finds nothing to report.

All its checks run on every answer (status, content type, headers and body against the document; schema-valid
requests accepted, schema-violating ones refused; authentication enforced; unsupported methods), on positive and
negative requests, EXAMPLES of each per operation, derandomised (the same requests every run). Half the requests
name the small city's real account, meter, payment and bill, so the operations answer with data too. The
application is called as WSGI in the test's own transaction, with the caller's session as the document's
SessionAuth and a CSRF token as a browser sends it.
"""
from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gridcounter.config.wsgi import application
from gridcounter.data.ledger.models import Payment
from gridcounter.interfaces.api.contract import CROSS_INPUT_CODES

pytestmark = pytest.mark.django_db

EXAMPLES = 10  # per operation, generation mode and set of inputs
OPEN = {"GET /api/tariffs", "POST /api/quote", "GET /api/service-requests/{number}"}  # those that need no session


@pytest.fixture
def app():
    """The project's WSGI application, sharing the test's database transaction (as Django's test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def signed_in(user) -> schemathesis.Config:
    """Schemathesis's configuration with `user`'s session as the document's SessionAuth (None: anonymous)."""
    if user is None:
        return schemathesis.Config()
    client = Client()
    client.force_login(user)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return schemathesis.Config.from_dict({"auth": {"openapi": {"SessionAuth": {"api_key": session}}}})


def csrf() -> tuple[dict, dict]:
    """The CSRF header and cookie a browser sends with a POST (Django compares the two)."""
    token = get_random_string(32)
    return {"X-CSRFToken": token}, {django_settings.CSRF_COOKIE_NAME: token}


def known_inputs(world) -> tuple[dict, dict]:
    """Path and query values naming the small city's own account, meter, payment and latest bill."""
    payment = Payment.objects.filter(account=world.account).first()
    path = {"number": world.account.number, "payment_id": payment.pk, "bill_id": world.latest_bill.pk}
    query = {"account": world.account.number, "meter": world.new_meter.asset_number}
    return path, query


class Answers:
    """Every answer's (operation, status), and positive_data_acceptance but for the documented 422s of the rules
    between two inputs that OpenAPI cannot state (CROSS_INPUT_CODES: 'Idempotency-Key header or idempotency_key',
    'meter or account')."""

    def __init__(self):
        self.seen: list[tuple[str, int]] = []

    def check(self, ctx, response, case):
        self.seen.append((case.operation.label, response.status_code))
        if response.status_code == 422 and (response.json() or {}).get("code") in CROSS_INPUT_CODES:
            return None
        return positive_data_acceptance(ctx, response, case)

    def served(self) -> set[str]:
        return {label for label, status in self.seen if 200 <= status < 300 and label not in OPEN}


def titles(error):
    inner = getattr(error, "exceptions", None)
    if inner:
        for each in inner:
            yield from titles(each)
    else:
        yield getattr(error, "title", None) or f"{type(error).__name__}: {str(error)[:300]}"


def run_all(schema, *, headers, cookies, known, answers: Answers) -> list[str]:
    path, query = known
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {"path_parameters": {k: v for k, v in path.items() if k in names}, "query": {
            k: v for k, v in query.items() if k in {p.name for p in operation.query}}}
        fixed = {k: v for k, v in fixed.items() if v}
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            for inputs in ({}, fixed) if fixed else ({},):
                strategy = operation.as_strategy(generation_mode=mode, **inputs)

                @given(case=strategy)
                @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                          suppress_health_check=list(HealthCheck))
                def check(case):
                    case.call_and_validate(headers=headers, cookies=cookies, excluded_checks=[positive_data_acceptance],
                                           additional_checks=[answers.check])

                try:
                    check()
                except hypothesis.errors.Unsatisfiable:
                    continue  # no negative request exists (an operation without inputs)
                except (Exception, BaseExceptionGroup) as error:  # every failure is reported together
                    failures.extend(f"{operation.label} [{mode}]: {title}" for title in sorted(set(titles(error))))
                    print(f"==== {operation.label} [{mode}] {inputs}\n{error}")
        # the coverage phase: each input's boundaries and each way to break them, once
        generation = schema.config.generation_for(operation=operation)
        for case in schema.iter_coverage_cases(operation, generation_modes=list(schemathesis.GenerationMode),
                                               generation_config=generation):
            try:
                case.call_and_validate(headers=headers, cookies=cookies, excluded_checks=[positive_data_acceptance],
                                       additional_checks=[answers.check])
            except (Exception, BaseExceptionGroup) as error:
                failures.extend(f"{operation.label} [coverage]: {title}" for title in sorted(set(titles(error))))
                print(f"==== {operation.label} [coverage]\n{error}")
    return failures


@pytest.mark.parametrize("role", ["anonymous", "clerk", "admin"])
def test_the_api_is_what_its_document_says(small_city, app, role):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=signed_in(getattr(small_city, role, None)))
    headers, cookies = csrf()
    answers = Answers()

    failures = run_all(schema, headers=headers, cookies=cookies, known=known_inputs(small_city), answers=answers)

    assert not failures, f"{len(set(failures))} distinct:\n" + "\n".join(sorted(set(failures)))
    if role == "anonymous":
        assert answers.served() == set()
    else:  # the session was sent and the city's own objects were found
        assert {"GET /api/accounts/{number}", "GET /api/accounts/{number}/ledger", "GET /api/bills",
                "GET /api/readings", "GET /api/payments/{payment_id}/receipt"} <= answers.served()


def test_every_refusal_in_the_document_is_the_one_error_body(client):
    document = client.get("/api/openapi.json").json()

    refusals = {(path, method, status): answer["content"]["application/json"]["schema"]
                for path, methods in document["paths"].items() for method, operation in methods.items()
                for status, answer in operation["responses"].items() if status >= "400"}
    error = document["components"]["schemas"]["ErrorOut"]

    assert refusals and all(schema == {"$ref": "#/components/schemas/ErrorOut"} for schema in refusals.values())
    assert set(error["required"]) == {"code", "detail", "field"}
    signed_in = {(p, m) for p, m, _ in refusals if (p, m) not in {("/api/quote", "post"),
                                                                  ("/api/service-requests/{number}", "get")}}
    assert all((p, m, "401") in refusals and (p, m, "422") in refusals for p, m in signed_in)
