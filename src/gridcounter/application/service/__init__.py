"""Service requests (业务申请): opened at any hall of the city, followed step by step behind the guards of
domain.service, each step one audited use case; documents kept with them; the lists of work due.

    _types      the request types in force (rules/service-requests.toml)
    _requests   opening a request, completing a step (idempotent, audited), the applicant's look-up, work due
    _documents  documents kept with a request: checked by their bytes and size, stored with their SHA-256
    _views      a request as its page and the API show it
"""
from gridcounter.application.service._documents import (
    DOCUMENT_FIELD,
    CheckedDocument,
    DocumentRefused,
    attach_document,
    check_document,
    document_max_bytes,
)
from gridcounter.application.service._requests import (
    STEP_FIELDS,
    RequestInputError,
    StepOutcome,
    StepRefused,
    blocker_of,
    complete_step,
    lookup_for_applicant,
    open_request,
    refusal_for,
    request_type_of,
    requests_of_account,
    steps_due,
    work_due,
)
from gridcounter.application.service._types import load_request_types, request_types
from gridcounter.application.service._views import RequestView, StepView, overdue_days, request_view

__all__ = [
    "DOCUMENT_FIELD",
    "STEP_FIELDS",
    "CheckedDocument",
    "DocumentRefused",
    "RequestInputError",
    "RequestView",
    "StepOutcome",
    "StepRefused",
    "StepView",
    "attach_document",
    "blocker_of",
    "check_document",
    "complete_step",
    "document_max_bytes",
    "load_request_types",
    "lookup_for_applicant",
    "open_request",
    "overdue_days",
    "refusal_for",
    "request_type_of",
    "request_types",
    "request_view",
    "requests_of_account",
    "steps_due",
    "work_due",
]
