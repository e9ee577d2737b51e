"""The audit log in the admin: read-only (no add, change or delete), searchable and filterable.

The log grows by an event per bill, payment and sign-in (tens of millions of rows in a large city), so its list
page never reads the whole table: the count stops at COUNT_CAP (shown as "10,000+"), the filters' choices come
without a scan (action: one index probe per distinct value; channel: the fixed list; object type: the project's
models; date: today / past 7 days / this month / this year), and the page itself is the newest rows read
backwards along the occurred_at index. `bench/admin_audit.py` measures it against the plain changelist.
"""
from django.apps import apps
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from .context import CHANNELS
from .models import AuditEvent

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows; `capped` says the true number is larger (the pagination shows "N+")."""

    @cached_property
    def count(self):
        counted = self.object_list.order_by()[: COUNT_CAP + 1].count()
        self.capped = counted > COUNT_CAP
        return min(counted, COUNT_CAP)

    capped = False


def distinct_indexed_values(model, field_name: str) -> list[str]:
    """The distinct values of an indexed column, smallest first, by skipping through its index (a recursive
    query asking for the next value above the last one: one index probe per value, not a scan of the rows)."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field_name).column)
    sql = (f"WITH RECURSIVE v(x) AS (SELECT MIN({column}) FROM {table} UNION ALL "
           f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL) "
           f"SELECT x FROM v WHERE x IS NOT NULL")
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class _ValueFilter(admin.SimpleListFilter):
    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class ActionFilter(_ValueFilter):
    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(value, value) for value in distinct_indexed_values(AuditEvent, "action")]


class ChannelFilter(_ValueFilter):
    title = _("channel")
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        return [(value, value) for value in CHANNELS]


class ObjectTypeFilter(_ValueFilter):
    title = _("object type")
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        labels = sorted(model._meta.label for model in apps.get_models()
                        if model.__module__.startswith("gridcounter."))
        return [(label, label) for label in labels]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the admin shows and never changes: written by the use cases that cause them, kept as they were."""

    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "action", "username", "hall", "channel", "object_type", "object_id", "reason")
    list_filter = ("occurred_at", ActionFilter, ChannelFilter, ObjectTypeFilter, "hall")
    search_fields = ("=username", "action", "=object_id", "reason")
    list_select_related = ("hall",)
    paginator = CappedPaginator
    show_full_result_count = False
