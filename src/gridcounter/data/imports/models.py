"""File imports: one batch per file, and every rejected row kept for correction.

A batch is committed in chunks: each chunk's rows and the batch's counters and `lines_done` in one transaction, so
the counts are true at every moment. A batch without `completed_at` was stopped part-way; importing the same file
again (the same SHA-256) continues it after `lines_done`.
"""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportBatch(models.Model):
    class Kind(models.TextChoices):
        REGISTRY = "REGISTRY", _("Registry")
        READINGS = "READINGS", _("Readings")
        ORG = "ORG", _("Organisation")
        WITHHOLDING_RESULTS = "WITHHOLDING_RESULTS", _("Bank withholding results")

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    file_name = models.CharField(_("file name"), max_length=300)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64, db_index=True)
    imported_at = models.DateTimeField(_("imported at"))
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("imported by"),
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_created = models.PositiveIntegerField(_("rows created"), default=0)
    rows_updated = models.PositiveIntegerField(_("rows updated"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("rows unchanged"), default=0)
    rows_rejected = models.PositiveIntegerField(_("rows rejected"), default=0)
    lines_done = models.PositiveIntegerField(
        _("lines done"), default=1, help_text=_("The file's lines up to this one are imported (the header is line 1)."))
    tallies = models.JSONField(_("tallies"), default=dict, blank=True,
                               help_text=_("Further counts of the import so far (readings: flagged, held, codes)."))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")
        ordering = ["-imported_at"]
        constraints = [
            # one unfinished batch per file: a second run of a stopped import continues it instead of starting anew
            models.UniqueConstraint(fields=["kind", "file_sha256"], condition=models.Q(completed_at__isnull=True),
                                    name="import_batch_one_open_per_file"),
        ]

    def __str__(self):
        return f"{self.kind} {self.file_name} ({self.imported_at:%Y-%m-%d %H:%M})"


class RejectedRow(models.Model):
    """A row that could not be imported, with its line, column and reason, kept until corrected."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rejected_rows", verbose_name=_("batch"))
    line = models.PositiveIntegerField(_("line"))
    column = models.CharField(_("column"), max_length=64, blank=True)
    reason = models.TextField(_("reason"))
    raw = models.JSONField(_("row as read"), default=dict)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True)

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        ordering = ["batch", "line"]
        constraints = [models.UniqueConstraint(fields=["batch", "line"], name="rejected_row_once_per_line")]

    def __str__(self):
        return f"line {self.line} {self.column}: {self.reason}"
