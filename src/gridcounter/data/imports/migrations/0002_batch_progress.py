"""Batches committed in chunks: progress (lines done, rows updated, tallies) and completion; one open batch per file.

Batches imported before this were written in one go: they are marked complete as of their import.
"""

from django.conf import settings
from django.db import migrations, models


def complete_earlier_batches(apps, schema_editor):
    ImportBatch = apps.get_model("imports", "ImportBatch")
    ImportBatch.objects.filter(completed_at__isnull=True).update(completed_at=models.F("imported_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('imports', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='importbatch',
            name='completed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='completed at'),
        ),
        migrations.RunPython(complete_earlier_batches, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name='importbatch',
            name='lines_done',
            field=models.PositiveIntegerField(default=1, help_text="The file's lines up to this one are imported (the header is line 1).", verbose_name='lines done'),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='rows_updated',
            field=models.PositiveIntegerField(default=0, verbose_name='rows updated'),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='tallies',
            field=models.JSONField(blank=True, default=dict, help_text='Further counts of the import so far (readings: flagged, held, codes).', verbose_name='tallies'),
        ),
        migrations.AddConstraint(
            model_name='importbatch',
            constraint=models.UniqueConstraint(condition=models.Q(('completed_at__isnull', True)), fields=('kind', 'file_sha256'), name='import_batch_one_open_per_file'),
        ),
        migrations.AddConstraint(
            model_name='rejectedrow',
            constraint=models.UniqueConstraint(fields=('batch', 'line'), name='rejected_row_once_per_line'),
        ),
    ]
