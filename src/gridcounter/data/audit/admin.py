"""The audit log in the admin: read-only (no add, change or delete), searchable and filterable."""
from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "action", "username", "hall", "channel", "object_type", "object_id", "reason")
    list_filter = ("action", "channel", "object_type", "hall")
    search_fields = ("=username", "action", "=object_id", "reason")
    date_hierarchy = "occurred_at"
    list_select_related = ("hall",)
    show_full_result_count = False
    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
