"""Append-only audit log, and the extra columns every history row carries (hall)."""
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.translation import gettext_lazy as _


class HallStampedHistory(models.Model):
    """Base of every simple-history table: records the hall the change was made from."""

    history_hall = models.ForeignKey(
        "org.Hall", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False,
        verbose_name=_("hall"),
    )
    history_channel = models.CharField(_("channel"), max_length=16, blank=True, default="")

    class Meta:
        abstract = True


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionDenied("the audit log is append-only")

    def delete(self):
        raise PermissionDenied("the audit log is append-only")


class AuditEvent(models.Model):
    """One sign-in, refusal or business change. Rows are never updated or deleted."""

    occurred_at = models.DateTimeField(_("occurred at"), db_index=True)
    action = models.CharField(_("action"), max_length=64)  # indexed in Meta
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False, verbose_name=_("user"),
    )
    username = models.CharField(_("username"), max_length=150, blank=True)
    hall = models.ForeignKey(
        "org.Hall", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False,
        verbose_name=_("hall"),
    )
    channel = models.CharField(_("channel"), max_length=16, blank=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)  # indexed in Meta
    reason = models.TextField(_("reason"), blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-occurred_at", "-id"]
        # Meta indexes rather than db_index=True: the same b-trees, without the pattern-matching (LIKE) copies
        # PostgreSQL would get for text fields and no query uses
        # (action, occurred_at): the admin's "newest events of one action" read backwards along one index, and the
        # action filter's choices found by skipping through it (data/audit/admin.py)
        indexes = [models.Index(fields=["action", "occurred_at"], name="audit_event_action_time"),
                   models.Index(fields=["object_id"], name="audit_event_object_id")]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionDenied("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("the audit log is append-only")


def history(**kwargs):
    """Version history for a registry or money model: every earlier version stays visible."""
    from simple_history.models import HistoricalRecords

    return HistoricalRecords(bases=[HallStampedHistory], **kwargs)
