"""Administration of bank withholding, read only: mandates are signed and cancelled at the counter, batches made by
`gridcounter withholding-export` and answered by the bank's result file; none is edited by hand."""
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from gridcounter.data.audit.admin import ReadOnlyAdmin
from gridcounter.domain.withholding import mask_bank_account

from .models import Mandate, WithholdingBatch, WithholdingLine


@admin.register(Mandate)
class MandateAdmin(ReadOnlyAdmin):
    list_display = ("account", "bank_code", "holder_name", "masked_bank_account", "status", "signed_date",
                    "signed_hall", "cancelled_at")
    list_filter = ("status", "bank_code", "signed_hall")
    search_fields = ("=account__number", "holder_name")
    list_select_related = ("account", "signed_hall")
    exclude = ("bank_account",)  # the full number goes to the bank's file only

    def get_readonly_fields(self, request, obj=None):
        return [name for name in super().get_readonly_fields(request, obj) if name != "bank_account"] + [
            "masked_bank_account"]

    @admin.display(description=_("bank account"))
    def masked_bank_account(self, mandate):
        return mask_bank_account(mandate.bank_account)


@admin.register(WithholdingBatch)
class WithholdingBatchAdmin(ReadOnlyAdmin):
    list_display = ("number", "bank_code", "city", "as_of_date", "line_count", "total_fen", "created_at", "closed_at")
    list_filter = ("bank_code", "city")
    search_fields = ("=number",)


@admin.register(WithholdingLine)
class WithholdingLineAdmin(ReadOnlyAdmin):
    list_display = ("batch", "line", "account", "amount_fen", "state", "result_code", "result_message", "payment")
    list_filter = ("state", "batch__bank_code")
    search_fields = ("=batch__number", "=account__number")
    list_select_related = ("batch", "account", "payment")
    exclude = ("mandate",)
