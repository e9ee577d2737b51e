"""The organisation: companies, cities, service halls and staff, set up from a file.

    _import  the org file import (CSV or .xlsx), row by row, rejected rows kept, idempotent
"""
from gridcounter.application.org._import import COLUMNS, KINDS, import_org

__all__ = ["COLUMNS", "KINDS", "import_org"]
