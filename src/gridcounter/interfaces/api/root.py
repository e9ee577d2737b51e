"""The REST API: one NinjaAPI, with a router per area. OpenAPI at /api/docs and /api/openapi.json."""
from ninja import NinjaAPI

api = NinjaAPI(title="gridcounter API", version="1", urls_namespace="api")
