"""Service requests as the counter makes them: opened, documents attached and steps completed through the use cases."""
from __future__ import annotations

from datetime import datetime

from gridcounter.application.service import attach_document, check_document, complete_step, open_request
from gridcounter.data.audit.context import Actor

from . import photos

APPLICANT_ID = "110101199003070011"


def pdf(text: str = "ID card scan") -> bytes:
    """A small real PDF (one page with `text`)."""
    body = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R>>endobj\n"
            b"4 0 obj<</Length " + str(len(body)).encode() + b">>stream\n" + body + b"\nendstream endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


def actor(user, *, reason: str = "new connection", channel: str = "WEB") -> Actor:
    return Actor(user=user, hall=user.hall, reason=reason, channel=channel)


def residential(*, clerk, now: datetime, request_type: str = "NEW_CONNECTION_RESIDENTIAL", origin_account=None,
                customer=None, key: str | None = None, **fields):
    """A request opened by `clerk` at their hall for 张新户 at a new address."""
    values = {"applicant_name": "张新户", "id_type": "RESIDENT_ID", "id_number": APPLICANT_ID,
              "address": "示范市东城区新苑小区8号楼2单元301", "phone": "13600136000", **fields}
    request, _ = open_request(request_type=request_type, hall=clerk.hall, actor=actor(clerk), now=now,
                              origin_account=origin_account, customer=customer, idempotency_key=key, **values)
    return request


def attach(request, *, kind: str, by, now: datetime, content: bytes | None = None, name: str = "scan.pdf"):
    document, _ = attach_document(request=request, kind=kind, document=check_document(content=content or pdf(kind)),
                                  original_name=name, actor=actor(by), now=now)
    return document


def step(request, code: str, *, by, now: datetime, note: str = "", **data):
    return complete_step(request=request, step=code, actor=actor(by, reason=note or code), now=now, data=data,
                         note=note)


def through(request, last: str, *, world, now: datetime):
    """Complete the residential steps up to and including `last`, each by its role of `world` (small_city)."""
    plan = [
        ("APPLICATION", world.clerk, {}),
        ("SURVEY", world.installer, {}),
        ("SUPPLY_PLAN", world.clerk, {}),
        ("INSTALLATION", world.installer, {"meter": "XN2026000001", "meter_digits": "6", "reading": "0"}),
        ("SIGN_OFF", world.reader, {"meter": "XN2026000001"}),
        ("ACCOUNT", world.clerk, {"tariff_id": "BJ-RES-LT1KV"}),
        ("ENERGISE", world.installer, {}),
        ("FIRST_READING", world.reader, {"reading": "3"}),
    ]
    if not request.documents.exists():
        attach(request, kind="ID", by=world.clerk, now=now)
        attach(request, kind="PROMISE", by=world.clerk, now=now, content=photos.png(text="promise"),
               name="promise.png")
    for code, user, data in plan:
        outcome = step(request, code, by=user, now=now, **data)
        request = outcome.request
        if code == last:
            return request
    return request
