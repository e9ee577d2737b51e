"""Administration of the notice outbox: what was sent to whom and when, and what could not be (read only: a notice
is written by the change that causes it and kept as it was sent)."""
from django.contrib import admin

from gridcounter.data.audit.admin import ReadOnlyAdmin

from .models import Notice


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "channel", "recipient", "account", "status", "attempts", "sent_at",
                    "delivered_at")
    list_filter = ("status", "channel", "kind", "city")
    search_fields = ("=account__number", "=recipient", "subject")
    date_hierarchy = "created_at"
    list_select_related = ("account",)
