"""Bank withholding (代扣): mandates signed at the counter, a batch per bank exported, the bank's results imported
and posted through the one payment use case, every line reconciled (docs/collections.md, "Bank withholding").

    _banks      the banks and result codes in force (rules/banks.toml)
    _mandates   sign a mandate, cancel it; audited; one active per account
    _export     a batch per bank and city: each active mandate's open bills, stored, written as CSV
    _results    the bank's result file: successes posted once, failures recorded and told, unknown lines kept
    _reconcile  every line of a batch collected, failed or pending, the totals adding up
"""
from gridcounter.application.withholding._banks import bank_rules, load_bank_rules
from gridcounter.application.withholding._export import (
    ExportRefused,
    ExportResult,
    batch_csv,
    export_batch,
    outstanding_by_account,
)
from gridcounter.application.withholding._mandates import active_mandate, cancel_mandate, sign_mandate
from gridcounter.application.withholding._reconcile import (
    STATES,
    BatchUnknown,
    Reconciliation,
    batches_of,
    find_batch,
    reconcile,
)
from gridcounter.application.withholding._results import ResultsReport, import_results
from gridcounter.domain.withholding import MandateRefused, mask_bank_account

__all__ = ["STATES", "BatchUnknown", "ExportRefused", "ExportResult", "MandateRefused", "Reconciliation",
           "ResultsReport", "active_mandate", "bank_rules", "batch_csv", "batches_of", "cancel_mandate",
           "export_batch", "find_batch", "import_results", "load_bank_rules", "mask_bank_account",
           "outstanding_by_account", "reconcile", "sign_mandate"]
