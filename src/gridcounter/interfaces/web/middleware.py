"""Response headers every page carries: a Content-Security-Policy, and no caching of what a signed-in user sees."""
from __future__ import annotations

from django.conf import settings
from django.utils.cache import patch_cache_control


class SecurityHeadersMiddleware:
    """``Content-Security-Policy`` (settings.CONTENT_SECURITY_POLICY) on every response that has none, and
    ``Cache-Control: private, no-store`` on every response to a signed-in user: those pages show customers
    (names, addresses, balances, receipts), which must not stay in a shared PC's browser cache.

    Static files are answered before this middleware (WhiteNoise) and stay cacheable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
