"""`gridcounter workdays --from YYYY-MM-DD --days N [--json]`: the due date of a time limit of N working days."""
import json
import re
from datetime import date

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from gridcounter.application.working_calendar import working_calendar
from gridcounter.domain.working_days import OutsideWorkingCalendar, due_date, in_calendar
from gridcounter.interfaces.cli.refusals import OneLineCommand, about, in_chinese

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DAYS_RE = re.compile(r"^[+-]?\d+$")


class Command(OneLineCommand):
    help = ("The due date of a time limit of N working days that starts the working day after --from, on the "
            "Chinese calendar (public holidays and adjusted working days; see docs/service.md).")

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                            help="the day the time limit starts from (it does not count itself)")
        parser.add_argument("--days", required=True, metavar="N", help="the time limit in working days (0 or more)")
        parser.add_argument("--json", action="store_true", help='print {"from", "days", "due"} as JSON')

    def handle(self, *args, **options):
        start = self._start(options["start"])
        days = self._days(options["days"])
        try:
            calendar = working_calendar()
        except (OSError, ValueError) as error:  # tomllib.TOMLDecodeError and WorkingCalendarError are ValueErrors
            self.refuse(_("the working-day calendar file cannot be used: {error}").format(error=error))
        try:
            due = due_date(start=start, days=days, calendar=calendar)
        except OutsideWorkingCalendar as error:
            option = "--from" if not in_calendar(start, calendar=calendar) else "--days"
            self.refuse(about(option, error.text_zh if in_chinese() else error.text_en))
        if options["json"]:
            self.stdout.write(json.dumps({"from": start.isoformat(), "days": days, "due": due.isoformat()}))
        elif days == 0:
            self.stdout.write(_("0 working days from {start}: due the same day, {due}.").format(
                start=start.isoformat(), due=due.isoformat()))
        else:
            first = due_date(start=start, days=1, calendar=calendar)
            self.stdout.write(ngettext(
                "{days} working day from {start}, counted from the next working day ({first}): due {due}.",
                "{days} working days from {start}, counted from the next working day ({first}): due {due}.",
                days).format(days=days, start=start.isoformat(), first=first.isoformat(), due=due.isoformat()))

    def _start(self, text: str) -> date:
        try:
            if not DATE_RE.match(text.strip()):
                raise ValueError
            return date.fromisoformat(text.strip())
        except ValueError:
            self.refuse(_("--from: must be a date written YYYY-MM-DD, not {value!r}").format(value=text))

    def _days(self, text: str) -> int:
        if not DAYS_RE.match(text.strip()) or int(text) < 0:
            self.refuse(_("--days: must be a whole number of working days, 0 or more, not {value!r}").format(
                value=text))
        return int(text)
