"""`gridcounter penalty --category C --amount A --due D --paid D [--part D:A …] [--cap P] [--json]`: Art. 98."""
import json
import re
import tomllib
from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from gridcounter.application.penalty import penalty_rules
from gridcounter.domain.ledger import InvalidAmount, parse_yuan_amount
from gridcounter.domain.penalty import (
    Arrears,
    InvalidPenaltyInput,
    PartPayment,
    PenaltyRulesError,
    late_payment_penalty,
    yuan_plain,
)
from gridcounter.interfaces.cli.refusals import OneLineCommand, about, in_chinese

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YEAR_RE = re.compile(r"^\d{4}$")
FIELD_OPTION = {"category": "--category", "amount": "--amount", "due_date": "--due", "paid_date": "--paid",
                "part": "--part", "charge_year": "--period-year"}
CAP_OFF = ("off", "none")


class Command(OneLineCommand):
    help = ("The late-payment penalty (电费违约金, Art. 98 of the Rules for Electricity Supply Business) on an overdue "
            "bill paid in full on --paid, with its working; no database (rules: rules/penalty.toml; see "
            "docs/collections.md).")

    def add_arguments(self, parser):
        parser.add_argument("--category", required=True, metavar="C",
                            help="the account's usage category, e.g. RESIDENTIAL or GENERAL_COMMERCIAL")
        parser.add_argument("--amount", required=True, metavar="A", help="the bill's amount in yuan, e.g. 1000.00")
        parser.add_argument("--due", required=True, metavar="YYYY-MM-DD", help="the bill's due date")
        parser.add_argument("--paid", required=True, metavar="YYYY-MM-DD",
                            help="the day the bill is paid in full (or the day to compute the penalty to)")
        parser.add_argument("--part", action="append", default=[], metavar="YYYY-MM-DD:AMOUNT",
                            help="a part paid before --paid (repeat for several); it is charged for its own day")
        parser.add_argument("--period-year", metavar="YYYY",
                            help="the year of the bill's period (电费年月), if not the due date's year")
        parser.add_argument("--cap", metavar="PERCENT",
                            help="cap the penalty at PERCENT of the overdue amount, or 'off' (default: the rules' "
                                 "cap policy)")
        parser.add_argument("--json", action="store_true", help='print {"penalty", "working"} as JSON')

    def handle(self, *args, **options):
        due = self._date(options["due"], "--due")
        paid = self._date(options["paid"], "--paid")
        amount = self._amount(options["amount"], "--amount")
        parts = tuple(self._part(text) for text in options["part"])
        year = self._year(options["period_year"], due)
        try:
            rules = penalty_rules()
        except (OSError, tomllib.TOMLDecodeError, PenaltyRulesError) as error:
            self.refuse(_("penalty rules: {error}").format(error=error))
        if options["cap"] is not None:
            rules = rules.with_cap(self._cap(options["cap"]))
        try:
            penalty = late_payment_penalty(rules=rules, category=options["category"].strip(), paid_date=paid,
                                           arrears=[Arrears(amount_fen=amount, due_date=due, charge_year=year,
                                                            parts=parts)])
        except InvalidPenaltyInput as error:
            self.refuse(about(FIELD_OPTION.get(error.field, error.field),
                              error.text_zh if in_chinese() else error.text_en))
        if options["json"]:
            self.stdout.write(json.dumps(penalty.as_dict(), ensure_ascii=False, indent=2))
            return
        text = "text_zh" if in_chinese() else "text_en"
        for step in penalty.working:
            self.stdout.write(step[text])
        self.stdout.write(_("Penalty: {amount} yuan.").format(amount=yuan_plain(penalty.penalty_fen)))

    def _date(self, text: str, option: str) -> date:
        try:
            if not DATE_RE.match(text.strip()):
                raise ValueError
            return date.fromisoformat(text.strip())
        except ValueError:
            self.refuse(_("{option}: must be a date written YYYY-MM-DD, not {value!r}").format(option=option,
                                                                                             value=text))

    def _amount(self, text: str, option: str) -> int:
        try:
            return parse_yuan_amount(text.strip(), field=option)
        except InvalidAmount as error:
            if error.code == InvalidAmount.TOO_MANY_DECIMALS:
                message = _("has more than two decimals (the smallest unit is one fen), not {value!r}")
            elif error.code == InvalidAmount.NOT_POSITIVE:
                message = _("must be greater than zero, not {value!r}")
            elif error.code == InvalidAmount.TOO_LARGE:
                message = _("is too large, {value!r}")
            else:
                message = _("must be an amount in yuan such as 123.45, not {value!r}")
            self.refuse(about(option, message.format(value=text)))

    def _part(self, text: str) -> PartPayment:
        day, colon, amount = text.strip().partition(":")
        if not colon:
            self.refuse(about("--part", _("must be written YYYY-MM-DD:AMOUNT, e.g. 2026-03-25:400.00, not "
                                          "{value!r}").format(value=text)))
        return PartPayment(paid_date=self._date(day, "--part"), amount_fen=self._amount(amount, "--part"))

    def _year(self, text: str | None, due: date) -> int:
        if text is None:
            return due.year
        if not YEAR_RE.match(text.strip()):
            self.refuse(about("--period-year", _("must be a year such as 2025, not {value!r}").format(value=text)))
        return int(text)

    def _cap(self, text: str) -> Decimal | None:
        if text.strip().lower() in CAP_OFF:
            return None
        try:
            percent = Decimal(text.strip().removesuffix("%"))
        except InvalidOperation:
            percent = None
        if percent is None or not percent.is_finite() or not 0 < percent <= 100:
            self.refuse(about("--cap", _("must be a percent above 0 and at most 100, or 'off', not {value!r}").format(
                value=text)))
        return percent
