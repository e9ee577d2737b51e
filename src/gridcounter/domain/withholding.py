"""Bank withholding (代扣): the banks and result codes as data, a mandate's bank account checked and masked, and the
two files exchanged with a bank (the batch we send, the results it returns). Pure: no Django, no clock."""
from __future__ import annotations

import re
from dataclasses import dataclass

# The batch file we send a bank, one line per account (docs/collections.md, "Bank withholding").
EXPORT_COLUMNS = ("batch", "line", "account", "holder", "bank_account", "amount", "reference")
# The result file the bank sends back, one line per line of the batch it processed.
RESULT_COLUMNS = ("batch", "line", "account", "amount", "result", "message", "transaction")

HOLDER_MAX_LENGTH = 60
TRANSACTION_MAX_LENGTH = 48  # the bank's transaction id kept on the line
MESSAGE_MAX_LENGTH = 200


class BankRulesError(ValueError):
    """rules/banks.toml is not what its header says."""


class MandateRefused(ValueError):
    """A mandate cannot be signed or cancelled; ``field`` names the form field at fault ("" for the whole form)."""

    def __init__(self, code: str, message: str, *, field: str = "", **slots):
        super().__init__(message)
        self.code = code
        self.field = field
        self.slots = slots


@dataclass(frozen=True)
class Bank:
    code: str
    name_zh: str
    name_en: str
    min_digits: int
    max_digits: int
    source: str

    def name(self, language: str) -> str:
        return self.name_en if (language or "").startswith("en") else self.name_zh


@dataclass(frozen=True)
class BankRules:
    banks: dict[str, Bank]
    success_code: str
    failures: dict[str, tuple[str, str]]  # code -> (zh, en)

    def is_success(self, code: str) -> bool:
        return code == self.success_code

    def failure_words(self, code: str) -> tuple[str, str]:
        """What a failure code means, in Chinese and English; a code not listed is "other" (9999's words)."""
        return self.failures.get(code) or self.failures.get("9999") or ("银行处理失败", "the bank could not collect")


def bank_rules_from_mapping(data: dict) -> BankRules:
    """The rules of a parsed rules/banks.toml. Raises BankRulesError naming the entry at fault."""
    banks: dict[str, Bank] = {}
    for index, entry in enumerate(data.get("banks") or [], start=1):
        try:
            code, low_high = str(entry["code"]), entry["account_digits"]
            bank = Bank(code=code, name_zh=str(entry["name_zh"]), name_en=str(entry["name_en"]),
                        min_digits=int(low_high[0]), max_digits=int(low_high[1]), source=str(entry["source"]))
        except (KeyError, TypeError, ValueError, IndexError) as missing:
            raise BankRulesError(f"bank rules: [[banks]] entry {index} lacks {missing}") from None
        if re.fullmatch(r"[A-Z0-9]{2,12}", code) is None:
            raise BankRulesError(f"bank rules: bank code {code!r} must be 2 to 12 of A-Z 0-9")
        if not 6 <= bank.min_digits <= bank.max_digits <= 32:
            raise BankRulesError(f"bank rules: bank {code}: account_digits must be [low, high] within 6 to 32")
        if code in banks:
            raise BankRulesError(f"bank rules: bank {code} is listed twice")
        banks[code] = bank
    if not banks:
        raise BankRulesError("bank rules: no [[banks]]")
    codes = data.get("result_codes") or {}
    success = str(codes.get("success", ""))
    if re.fullmatch(r"[0-9A-Z]{4}", success) is None:
        raise BankRulesError("bank rules: [result_codes] success must be a 4-character code")
    failures = {str(f["code"]): (str(f["zh"]), str(f["en"])) for f in codes.get("failures") or []}
    if success in failures:
        raise BankRulesError(f"bank rules: result code {success} is both success and failure")
    return BankRules(banks=banks, success_code=success, failures=failures)


def check_bank_account(number: str, *, bank: Bank) -> str:
    """The bank account number as stored: digits only, spaces and hyphens typed between groups dropped, of the
    bank's length. Raises MandateRefused (field "bank_account")."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits:
        raise MandateRefused("BANK_ACCOUNT_REQUIRED", "enter the bank account number", field="bank_account")
    if not digits.isascii() or not digits.isdigit():
        raise MandateRefused("BANK_ACCOUNT_NOT_DIGITS", "a bank account number has digits only",
                             field="bank_account")
    if not bank.min_digits <= len(digits) <= bank.max_digits:
        raise MandateRefused("BANK_ACCOUNT_LENGTH", f"{bank.code} account numbers have {bank.min_digits} to "
                             f"{bank.max_digits} digits, this one {len(digits)}", field="bank_account",
                             bank=bank.code, low=bank.min_digits, high=bank.max_digits, digits=len(digits))
    return digits


def check_holder(name: str) -> str:
    """The account holder's name as stored (trimmed). Raises MandateRefused (field "holder")."""
    text = " ".join((name or "").split())
    if not text:
        raise MandateRefused("HOLDER_REQUIRED", "enter the bank account holder's name", field="holder")
    if len(text) > HOLDER_MAX_LENGTH or any(not ch.isprintable() for ch in text):
        raise MandateRefused("HOLDER_INVALID", f"the holder's name has at most {HOLDER_MAX_LENGTH} printable "
                             "characters", field="holder", limit=HOLDER_MAX_LENGTH)
    return text


def mask_bank_account(number: str) -> str:
    """What screens show of a bank account: its first 4 and last 4 digits (6222 **** 1234)."""
    if len(number) <= 8:
        return "*" * len(number)
    return f"{number[:4]} **** {number[-4:]}"


def line_key(*, batch: str, line: int) -> str:
    """The payment's idempotency key of a batch line: it books once however often its result is imported."""
    return f"withholding:{batch}:{line}"


def line_reference(*, batch: str, line: int) -> str:
    """The reference the bank shows on the customer's statement and returns on the result line."""
    return f"{batch}-{line:05d}"
