"""The API's one refusal ninja answers itself, outside its exception handlers: a method the path does not take."""
from __future__ import annotations

import json

from django.http import HttpResponseNotAllowed
from django.utils.translation import gettext as _


class ApiMethodNotAllowedMiddleware:
    """A 405 under /api/ gets the error body every other refusal has (``{"code": "METHOD_NOT_ALLOWED", "detail",
    "field"}``, the detail in the request's language naming the methods the path takes), keeping its ``Allow``
    header; ninja's own answer is the plain text "Method not allowed"."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        allowed = response.get("Allow", "")
        body = {"code": "METHOD_NOT_ALLOWED", "field": "",
                "detail": _("{path} does not take {method}; it takes {allowed}.").format(
                    path=request.path, method=request.method, allowed=allowed or "—")}
        answer = HttpResponseNotAllowed([m.strip() for m in allowed.split(",") if m.strip()],
                                        content=json.dumps(body, ensure_ascii=False),
                                        content_type="application/json; charset=utf-8")
        return answer
