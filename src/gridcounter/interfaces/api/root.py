"""The REST API: one NinjaAPI, with a router per area. OpenAPI at /api/docs and /api/openapi.json.

Every refusal, ninja's own included, answers the one error body of gridcounter.interfaces.api.contract.
"""
from functools import partial

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from gridcounter.application.ledger import Contention
from gridcounter.interfaces.api import contract
from gridcounter.interfaces.api.tariffs import router as tariffs_router

api = NinjaAPI(title="gridcounter API", version="1", urls_namespace="api", description=contract.__doc__)

api.add_router("", tariffs_router)
api.add_router("", "gridcounter.interfaces.api.readings.router")
api.add_router("", "gridcounter.interfaces.api.payments.router")
api.add_router("", "gridcounter.interfaces.api.billing.router")
api.add_router("", "gridcounter.interfaces.api.registry.router")
api.add_router("", "gridcounter.interfaces.api.gateways.router")
api.add_router("", "gridcounter.interfaces.api.service.router")

api.add_exception_handler(ValidationError, partial(contract.validation_refused, api=api))
api.add_exception_handler(AuthenticationError, partial(contract.signed_out, api=api))
api.add_exception_handler(HttpError, partial(contract.http_refused, api=api))
api.add_exception_handler(Http404, partial(contract.not_found, api=api))
api.add_exception_handler(Contention, partial(contract.contended, api=api))
