"""Entry seals (the per-account hash chain), the existing entries sealed, and the triggers that make the ledger and
the audit trail append-only in the database (`gridcounter.data.ledger.guard`)."""

import django.db.models.deletion
from django.db import migrations, models

from gridcounter.data.ledger import chain, guard


def seal_existing(apps, schema_editor):
    JournalEntry = apps.get_model("ledger", "JournalEntry")
    chain.seal_entries(JournalEntry.objects.values_list("id", flat=True), key=guard.chain_key(), apps=apps)


def install_guards(apps, schema_editor):
    guard.install(schema_editor)


def remove_guards(apps, schema_editor):
    guard.remove(schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0003_leaner_indexes'),
        ('audit', '0003_leaner_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='EntrySeal',
            fields=[
                ('entry', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='seal', serialize=False, to='ledger.journalentry', verbose_name='entry')),
                ('account_id', models.BigIntegerField(verbose_name='customer account')),
                ('seq', models.PositiveBigIntegerField(verbose_name="position in the account's chain")),
                ('digest', models.CharField(max_length=64, verbose_name='digest')),
            ],
            options={
                'verbose_name': 'journal entry seal',
                'verbose_name_plural': 'journal entry seals',
                'constraints': [models.UniqueConstraint(fields=('account_id', 'seq'), name='entry_seal_one_per_place')],
            },
        ),
        migrations.RunPython(seal_existing, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(install_guards, remove_guards, elidable=False),
    ]
