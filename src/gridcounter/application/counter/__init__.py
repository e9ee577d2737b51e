"""What the counter shows of a customer, as read models the interfaces draw.

    _screen  the customer screen: account, installations, readings and their findings, bills and their reasons,
             the ledger with running balance, what awaits review, and monthly usage
"""
from gridcounter.application.counter._screen import (
    BillView,
    CustomerScreen,
    LedgerRow,
    MonthlyUsage,
    ReadingView,
    customer_screen,
    finding_text,
)

__all__ = ["BillView", "CustomerScreen", "LedgerRow", "MonthlyUsage", "ReadingView", "customer_screen",
           "finding_text"]
