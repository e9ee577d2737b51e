"""Service requests in the admin: read-only (every change is a step's use case, audited; see application.service)."""
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import ServiceDocument, ServiceRequest, ServiceStep


class _ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StepInline(_ReadOnly, admin.TabularInline):
    model = ServiceStep
    extra = 0
    fields = ("position", "step", "completed_at", "completed_by", "hall", "due_date", "reason", "detail")
    readonly_fields = fields


class DocumentInline(_ReadOnly, admin.TabularInline):
    model = ServiceDocument
    extra = 0
    fields = ("kind", "step", "original_name", "content_type", "size_bytes", "sha256", "uploaded_at", "uploaded_by")
    readonly_fields = fields


@admin.register(ServiceRequest)
class ServiceRequestAdmin(_ReadOnly, SimpleHistoryAdmin):
    list_display = ("number", "request_type", "applicant_name", "state", "current_step", "current_due_date",
                    "opened_hall")
    list_filter = ("state", "request_type", "current_step", "city")
    search_fields = ("=number", "applicant_name", "=id_number")
    list_select_related = ("opened_hall",)
    inlines = [StepInline, DocumentInline]
