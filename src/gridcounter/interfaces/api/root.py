"""The REST API: one NinjaAPI, with a router per area. OpenAPI at /api/docs and /api/openapi.json."""
from ninja import NinjaAPI

from gridcounter.interfaces.api.tariffs import router as tariffs_router

api = NinjaAPI(title="gridcounter API", version="1", urls_namespace="api")

api.add_router("", tariffs_router)
api.add_router("", "gridcounter.interfaces.api.readings.router")
api.add_router("", "gridcounter.interfaces.api.payments.router")
api.add_router("", "gridcounter.interfaces.api.billing.router")
api.add_router("", "gridcounter.interfaces.api.registry.router")
