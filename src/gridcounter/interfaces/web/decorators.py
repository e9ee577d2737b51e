"""``staff_required``: every counter view runs signed in, attributed to its user and hall, behind the access rules."""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from gridcounter.application.access import AccessDenied, ObjectHidden, require_role
from gridcounter.data.audit.context import Actor, acting_as


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def staff_required(*roles: str):
    """Signed-in staff only; with ``roles``, only holders of one of them (ADMIN always).

    Anonymous users are sent to the sign-in page (htmx requests get an ``HX-Redirect`` so the whole page
    moves, not a fragment). ``AccessDenied`` raised anywhere in the view answers 403, ``ObjectHidden``
    answers 404: an account of another city looks exactly like one that does not exist.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                if is_htmx(request):
                    current = urlsplit(request.headers.get("HX-Current-URL", "/"))
                    back = current.path + (f"?{current.query}" if current.query else "")
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = f"{reverse('login')}?{urlencode({'next': back})}"
                    return response
                return redirect_to_login(request.get_full_path())
            try:
                with acting_as(Actor(user=user, hall=user.hall, channel="WEB")):
                    if roles:
                        require_role(user, *roles)
                    return view(request, *args, **kwargs)
            except ObjectHidden:
                return render(request, "web/404.html", status=404)
            except AccessDenied:
                return render(request, "web/403.html", status=403)

        return wrapped

    return decorator
