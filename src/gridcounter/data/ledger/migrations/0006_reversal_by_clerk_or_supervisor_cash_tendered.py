"""A reversal by the clerk who took the payment (same open day) or by a supervisor: who, which kind, its business
date, whether the payment's till day was closed; the cash tendered on a payment; a till day's post-close reversals."""
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models

from gridcounter.data.ledger import guard

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def remove_guards(apps, schema_editor):
    """The append-only triggers come off while the reversals get their business date (an UPDATE they refuse) and
    SQLite rebuilds the tables; `install_guards` puts them back, comparing the payment's new column too."""
    guard.remove(schema_editor, ("ledger_reversal", "ledger_payment"))


def install_guards(apps, schema_editor):
    guard.install(schema_editor)


def fill_reversed_date(apps, schema_editor):
    Reversal = apps.get_model("ledger", "Reversal")
    for reversal in Reversal.objects.all().only("pk", "reversed_at"):
        Reversal.objects.filter(pk=reversal.pk).update(reversed_date=reversal.reversed_at.astimezone(BUSINESS_TZ).date())


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0005_till_days'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(remove_guards, install_guards, elidable=False),
        migrations.RenameField(model_name='reversal', old_name='supervisor', new_name='reversed_by'),
        migrations.AlterField(
            model_name='reversal', name='reversed_by',
            field=models.ForeignKey(on_delete=models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL,
                                    verbose_name='reversed by'),
        ),
        migrations.AddField(
            model_name='reversal', name='kind',
            field=models.CharField(choices=[('CLERK_SAME_DAY', "Clerk's own payment, same open day"),
                                            ('SUPERVISOR', 'Supervisor')],
                                   default='SUPERVISOR', max_length=16, verbose_name='kind'),
        ),
        migrations.AddField(
            model_name='reversal', name='after_close',
            field=models.BooleanField(default=False, verbose_name="after the close of the payment's day"),
        ),
        migrations.AddField(
            model_name='reversal', name='reversed_date',
            field=models.DateField(null=True, verbose_name='business date of the reversal'),
        ),
        migrations.RunPython(fill_reversed_date, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='reversal', name='reversed_date',
            field=models.DateField(verbose_name='business date of the reversal'),
        ),
        migrations.AddField(
            model_name='payment', name='cash_tendered_fen',
            field=models.BigIntegerField(blank=True, null=True, verbose_name='cash tendered (fen)'),
        ),
        migrations.AddField(
            model_name='historicalpayment', name='cash_tendered_fen',
            field=models.BigIntegerField(blank=True, null=True, verbose_name='cash tendered (fen)'),
        ),
        migrations.AddField(
            model_name='tillday', name='post_close_reversals',
            field=models.JSONField(default=dict, verbose_name='post-close reversals per channel (fen)'),
        ),
        migrations.AddField(
            model_name='historicaltillday', name='post_close_reversals',
            field=models.JSONField(default=dict, verbose_name='post-close reversals per channel (fen)'),
        ),
        migrations.RunPython(install_guards, remove_guards, elidable=False),
    ]
