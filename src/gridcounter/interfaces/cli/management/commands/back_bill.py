"""`gridcounter back-bill --rule ART80|ART81 … --recorded-kwh K [--json]`: the kWh to make up after a meter test."""
import json
import tomllib
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from gridcounter.application.back_billing import back_billing_rules
from gridcounter.domain.back_billing import (
    ART80,
    ART81,
    BackBillingRulesError,
    InvalidBackBillingInput,
    meter_error_make_up,
    multiplier_make_up,
    parse_ratio,
)
from gridcounter.interfaces.cli.refusals import OneLineCommand, about, in_chinese

OPTIONS_OF_RULE = {ART80: ("error_percent",), ART81: ("used_ratio", "actual_ratio")}


def option(field: str) -> str:
    return "--" + field.replace("_", "-")


class Command(OneLineCommand):
    help = ("The kWh to make up (negative: to refund) after a meter test, with the working: Art. 80 (meter error, "
            "half the period) or Art. 81 (wrong multiplier, the whole period); see docs/service.md.")

    def add_arguments(self, parser):
        parser.add_argument("--rule", required=True, choices=[ART80, ART81],
                            help="ART80: meter error; ART81: wrong multiplier")
        parser.add_argument("--error-percent", metavar="P",
                            help="ART80: the meter's error in %% (negative: slow, positive: fast), e.g. -10")
        parser.add_argument("--used-ratio", metavar="A/B", help="ART81: the ratio the bills used, e.g. 300/5")
        parser.add_argument("--actual-ratio", metavar="A/B", help="ART81: the ratio installed, e.g. 600/5")
        parser.add_argument("--recorded-kwh", required=True, metavar="K",
                            help="kWh billed over the period since the last test or installation")
        parser.add_argument("--json", action="store_true", help='print {"rule", "make_up_kwh", "working"} as JSON')

    def handle(self, *args, **options):
        rule_code = options["rule"]
        for other_rule, fields in OPTIONS_OF_RULE.items():
            for field in fields:
                given = options[field] is not None
                if other_rule == rule_code and not given:
                    self.refuse(_("{option}: is required with --rule {rule}").format(option=option(field),
                                                                                    rule=rule_code))
                if other_rule != rule_code and given:
                    self.refuse(_("{option}: applies to --rule {other} only, not {rule}").format(
                        option=option(field), other=other_rule, rule=rule_code))
        try:
            rules = back_billing_rules()
        except (OSError, tomllib.TOMLDecodeError, BackBillingRulesError) as error:
            self.refuse(_("back-billing rules: {error}").format(error=error))
        try:
            recorded = self._number(options["recorded_kwh"], "recorded_kwh")
            if rule_code == ART80:
                result = meter_error_make_up(rule=rules[ART80], recorded_kwh=recorded,
                                             error_percent=self._number(options["error_percent"], "error_percent"))
            else:
                result = multiplier_make_up(rule=rules[ART81], recorded_kwh=recorded,
                                            used=parse_ratio(options["used_ratio"], field="used_ratio"),
                                            actual=parse_ratio(options["actual_ratio"], field="actual_ratio"))
        except InvalidBackBillingInput as error:
            self.refuse(about(option(error.field), error.text_zh if in_chinese() else error.text_en))
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.stdout.write(result.text_zh if in_chinese() else result.text_en)

    def _number(self, text: str, field: str) -> Decimal:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            self.refuse(_("{option}: must be a number, not {value!r}").format(option=option(field), value=text))
        return value
