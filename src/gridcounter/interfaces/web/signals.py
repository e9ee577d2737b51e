"""Sign-in, failed sign-in, sign-out and lockout each write an audit event."""
from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.audit.events import record_event


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def _named_user(username: str):
    """The staff user with this name, or an unsaved stand-in that only carries the name typed."""
    model = get_user_model()
    return model.objects.filter(username=username).select_related("hall").first() or model(username=username)


def _record(*, action: str, user, request, detail: dict | None = None):
    hall = getattr(user, "hall", None) if getattr(user, "hall_id", None) else None
    with acting_as(Actor(user=user, hall=hall, channel="WEB")):
        record_event(action=action, user=user, hall=hall, ip_address=_ip(request), detail=detail or {})


@receiver(user_logged_in, dispatch_uid="gridcounter_web_sign_in")
def on_sign_in(sender, request, user, **kwargs):
    _record(action="SIGN_IN", user=user, request=request)


@receiver(user_logged_out, dispatch_uid="gridcounter_web_sign_out")
def on_sign_out(sender, request, user, **kwargs):
    if user is not None:
        _record(action="SIGN_OUT", user=user, request=request)


@receiver(user_login_failed, dispatch_uid="gridcounter_web_sign_in_failed")
def on_sign_in_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    _record(action="SIGN_IN_FAILED", user=_named_user(username), request=request, detail={"username": username})


@receiver(user_locked_out, dispatch_uid="gridcounter_web_locked_out")
def on_locked_out(sender, request, username, ip_address, **kwargs):
    username = str(username or "")[:150]
    _record(action="SIGN_IN_LOCKED_OUT", user=_named_user(username), request=request,
            detail={"username": username, "ip_address": ip_address})
