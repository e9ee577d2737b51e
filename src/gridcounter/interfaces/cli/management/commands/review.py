"""`gridcounter review --period P [--rule R] [--route R] [--json]` lists held bills; decisions with --release etc."""
import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcounter.application.billing import (
    BillNotHeld,
    CorrectionRefused,
    Decision,
    ReasonRequired,
    decide,
    held_bills,
    local_today,
)
from gridcounter.data.audit.context import Actor, acting_as
from gridcounter.data.billing.models import Bill
from gridcounter.data.org.models import StaffUser


def _yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


class Command(BaseCommand):
    help = "The review queue of held bills, and the auditor's decisions on them."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="YYYY-MM")
        parser.add_argument("--rule", help="only bills held on this code, e.g. BILL_SHOCK")
        parser.add_argument("--route", help="only this reading route")
        parser.add_argument("--json", action="store_true")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--release", type=int, metavar="BILL_ID", help="issue the held bill as it is")
        group.add_argument("--correct", type=int, metavar="BILL_ID", help="correct its reading (--value, --register)")
        group.add_argument("--reread", type=int, metavar="BILL_ID", help="order an on-site re-read; stays held")
        group.add_argument("--estimate", type=int, metavar="BILL_ID", help="replace its reading by an estimate")
        parser.add_argument("--value", help="the corrected register value")
        parser.add_argument("--register", help="TOTAL, PEAK, FLAT, VALLEY (default TOTAL / all for --estimate)")
        parser.add_argument("--reason", default="", help="why (required for a decision)")
        parser.add_argument("--user", help="username of the auditor deciding (default: system)")
        parser.add_argument("--as-of", default=None, help="business date (default: today, Asia/Shanghai)")

    def handle(self, *args, **options):
        decisions = {"release": Decision.RELEASE, "correct": Decision.CORRECT_READING,
                     "reread": Decision.ORDER_REREAD, "estimate": Decision.ESTIMATE}
        chosen = [(k, options[k]) for k in decisions if options[k] is not None]
        if chosen:
            return self._decide(decisions[chosen[0][0]], chosen[0][1], options)
        items = held_bills(period=options["period"], rule=options["rule"], route_code=options["route"])
        if options["json"]:
            self.stdout.write(json.dumps({"period": options["period"], "count": len(items),
                                          "bills": [i.as_dict() for i in items]}, ensure_ascii=False))
            return
        self.stdout.write(_("%(count)d held bills") % {"count": len(items)})
        for item in items:
            self.stdout.write(f"{item.bill_id:>8} {item.period} {item.account:<14} {_yuan(item.amount_fen):>10} "
                              f"{item.route:<10} {item.reader:<12} {','.join(item.hold_codes)}")

    def _decide(self, decision, bill_id, options):
        now = timezone.now()
        as_of = datetime.strptime(options["as_of"], "%Y-%m-%d").date() if options["as_of"] else local_today(now)
        bill = Bill.objects.filter(pk=bill_id).first()
        if bill is None:
            raise CommandError(_("No bill %(id)s.") % {"id": bill_id})
        user = None
        if options["user"]:
            user = StaffUser.objects.filter(username=options["user"]).select_related("hall").first()
            if user is None:
                raise CommandError(_("No user %(name)s.") % {"name": options["user"]})
        actor = Actor(user=user, hall=getattr(user, "hall", None), reason=options["reason"], channel="CLI")
        try:
            with acting_as(actor):
                row = decide(bill=bill, decision=decision, reason=options["reason"], decided_at=now, as_of=as_of,
                             register=options["register"], value=options["value"])
        except (BillNotHeld, ReasonRequired, CorrectionRefused) as error:
            raise CommandError(str(error))
        data = {"bill": bill.pk, "decision": row.decision, "review_decision": row.pk,
                "new_bill": row.new_bill_id,
                "new_status": row.new_bill.status if row.new_bill_id else Bill.objects.get(pk=bill.pk).status}
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False))
        else:
            self.stdout.write(_("Bill %(bill)s: %(decision)s recorded; now %(new_status)s") % data)
