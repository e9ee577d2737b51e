"""Administration of file imports: each batch with its rejected rows (kept until corrected)."""
from django.contrib import admin

from .models import ImportBatch, RejectedRow


class RejectedRowInline(admin.TabularInline):
    model = RejectedRow
    extra = 0
    fields = ("line", "column", "reason", "raw", "resolved_at", "resolution")
    readonly_fields = ("line", "column", "reason", "raw")
    can_delete = False


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ("imported_at", "kind", "file_name", "rows_total", "rows_created", "rows_updated", "rows_unchanged",
                    "rows_rejected", "completed_at", "imported_by")
    list_filter = ("kind",)
    search_fields = ("file_name", "=file_sha256")
    date_hierarchy = "imported_at"
    readonly_fields = ("kind", "file_name", "file_sha256", "imported_at", "imported_by", "rows_total", "rows_created",
                       "rows_updated", "rows_unchanged", "rows_rejected", "lines_done", "tallies", "completed_at")
    inlines = [RejectedRowInline]

    def has_add_permission(self, request):
        return False  # batches are made by importing a file


@admin.register(RejectedRow)
class RejectedRowAdmin(admin.ModelAdmin):
    list_display = ("batch", "line", "column", "reason", "resolved_at")
    list_filter = ("batch__kind", ("resolved_at", admin.EmptyFieldListFilter), "column")
    search_fields = ("reason", "batch__file_name")
    list_select_related = ("batch",)
    readonly_fields = ("batch", "line", "column", "reason", "raw")

    def has_add_permission(self, request):
        return False
