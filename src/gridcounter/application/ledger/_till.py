"""The till: a clerk's payments of the day, the close (日结) with over and short (长短款), the supervisor's
sign-off, and the hand-over to the bank (解款). The business date is a parameter; nothing reads the clock."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from gridcounter.data.audit.context import acting_as, current_actor
from gridcounter.data.audit.events import record_event
from gridcounter.data.ledger.models import Payment, Reversal, TillDay
from gridcounter.data.org.models import Hall, Role
from gridcounter.domain.ledger import counted_cash_fen, format_fen


class TillClosed(Exception):
    """The clerk's day at this hall is closed: no more payments for that clerk, hall and business date."""

    def __init__(self, *, clerk, hall: Hall, day: date):
        self.clerk, self.hall, self.day = clerk, hall, day
        super().__init__(_("The day {day} is closed for {clerk} at {hall}: no more payments can be booked.").format(
            day=day.isoformat(), clerk=getattr(clerk, "display_name", "") or clerk.username, hall=hall.name))


class TillError(ValueError):
    """A close, sign-off or hand-over that cannot be recorded; ``field`` names the input."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TillLine:
    payment: Payment
    reversed: bool
    reversal: Reversal | None = None

    @property
    def reversed_after_close(self) -> bool:
        """Reversed once the day was closed: still in the close's figures, taken out where the reversal was made."""
        return self.reversal is not None and self.reversal.after_close


@dataclass(frozen=True)
class TillSheet:
    """A clerk's day at a hall: the payments, what was booked per channel (reversed ones left out, unless reversed
    after the day was closed), the post-close reversals made this day of earlier closed days' payments, and the
    close. What the drawer and the card terminal should hold is ``expected``: booked less those reversals."""

    clerk: object
    hall: Hall
    day: date
    lines: list[TillLine]
    booked: dict[str, int]
    close: TillDay | None
    post_close: list[Reversal] = dataclasses.field(default_factory=list)

    @property
    def booked_cash_fen(self) -> int:
        return self.booked.get(Payment.Channel.CASH, 0)

    @property
    def post_close_by_channel(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for reversal in self.post_close:
            channel = reversal.payment.channel
            out[channel] = out.get(channel, 0) + reversal.payment.amount_fen
        return out

    @property
    def expected(self) -> dict[str, int]:
        taken_out = self.post_close_by_channel
        return {c: self.booked.get(c, 0) - taken_out.get(c, 0) for c in set(self.booked) | set(taken_out)}

    @property
    def expected_cash_fen(self) -> int:
        return self.expected.get(Payment.Channel.CASH, 0)


def is_closed(*, clerk, hall: Hall, day: date) -> bool:
    return TillDay.objects.filter(clerk=clerk, hall=hall, business_date=day).exists()


def check_till_open(*, clerk, hall: Hall, day: date) -> None:
    """Raises TillClosed when the clerk has closed the day at the hall (the payment use case asks this)."""
    if clerk is not None and is_closed(clerk=clerk, hall=hall, day=day):
        raise TillClosed(clerk=clerk, hall=hall, day=day)


def till_sheet(*, clerk, hall: Hall, day: date) -> TillSheet:
    payments = list(Payment.objects.filter(clerk=clerk, hall=hall, taken_date=day)
                    .select_related("account", "reversal__reversed_by").order_by("taken_at", "id"))
    lines = []
    booked: dict[str, int] = {}
    for p in payments:
        reversal = getattr(p, "reversal", None) if p.status == Payment.Status.REVERSED else None
        line = TillLine(payment=p, reversed=reversal is not None, reversal=reversal)
        lines.append(line)
        if reversal is None or line.reversed_after_close:
            booked[p.channel] = booked.get(p.channel, 0) + p.amount_fen
    post_close = list(Reversal.objects.filter(reversed_by=clerk, hall=hall, reversed_date=day, after_close=True)
                      .select_related("payment__account", "payment__clerk", "payment__hall")
                      .order_by("reversed_at", "id"))
    return TillSheet(clerk=clerk, hall=hall, day=day, lines=lines, booked=booked, post_close=post_close,
                     close=TillDay.objects.filter(clerk=clerk, hall=hall, business_date=day).first())


def channel_differences(*, declared: dict[str, int], expected: dict[str, int]) -> dict[str, int]:
    """Declared less expected, per channel: each channel is compared on its own, so a short in cash is never
    hidden by an over on the card terminal."""
    return {c: declared.get(c, 0) - expected.get(c, 0) for c in sorted(set(declared) | set(expected))}


def close_day(*, clerk, hall: Hall, day: date, cash_counted: dict[int, int], non_cash: dict[str, int | None],
              reason: str, closed_at: datetime) -> TillDay:
    """Close the clerk's day at the hall: declared cash (by denomination) and non-cash (fen per channel) against
    what is expected (booked, less the post-close reversals made this day), channel by channel. A difference in
    any channel needs a reason and then waits for a supervisor's sign-off. Audited.

    A non-cash channel left undeclared (None, or absent) counts as 0 when nothing is expected on it; when something
    is, the close is refused naming it: a blank field is not a declaration that the terminal holds nothing.

    Raises TillError (bad count, an undeclared channel with takings, a difference without a reason, the day
    already closed)."""
    try:
        cash_fen = counted_cash_fen(cash_counted)
    except ValueError as problem:
        raise TillError(_("Cash counted: %(problem)s") % {"problem": problem}, field="cash") from problem
    undeclared = {channel for channel, value in non_cash.items() if value is None}
    non_cash = {channel: value for channel, value in non_cash.items() if value is not None}
    if any(not isinstance(v, int) or v < 0 for v in non_cash.values()):
        raise TillError(_("Non-cash totals must be amounts of zero or more."), field="non_cash")
    reason = (reason or "").strip()
    actor = dataclasses.replace(current_actor(), user=clerk, hall=hall, reason=reason)
    with acting_as(actor), transaction.atomic():
        sheet = till_sheet(clerk=clerk, hall=hall, day=day)
        if sheet.close is not None:
            raise TillError(_("The day %(day)s is already closed.") % {"day": day.isoformat()})
        expected = sheet.expected
        for channel in sorted(undeclared):
            if expected.get(channel, 0):
                raise TillError(_("%(channel)s total: enter the total the terminal's settlement slip shows for "
                                  "today (0 if it shows nothing); payments were booked on it.") % {
                                      "channel": Payment.Channel(channel).label}, field=f"noncash_{channel}")
        declared = {Payment.Channel.CASH.value: cash_fen, **{k: v for k, v in non_cash.items() if v}}
        differences = channel_differences(declared=declared, expected=expected)
        difference = sum(differences.values())
        uneven = any(differences.values())
        if uneven and not reason:
            if difference:
                message = _("The till is %(kind)s by %(amount)s yuan: say why (reason).") % {
                    "kind": _("over") if difference > 0 else _("short"), "amount": format_fen(abs(difference))}
            else:
                message = _("The channels do not match what was booked (one over, another short): say why (reason).")
            raise TillError(message, field="reason")
        try:
            with transaction.atomic():
                till = TillDay.objects.create(
                    clerk=clerk, hall=hall, business_date=day,
                    status=TillDay.Status.AWAITING_SIGN_OFF if uneven else TillDay.Status.CLOSED,
                    cash_counted={str(k): v for k, v in cash_counted.items() if v}, cash_declared_fen=cash_fen,
                    non_cash_declared={k: v for k, v in non_cash.items() if v}, booked=sheet.booked,
                    post_close_reversals=sheet.post_close_by_channel,
                    difference_fen=difference, reason=reason, closed_at=closed_at)
        except IntegrityError as clash:
            raise TillError(_("The day %(day)s is already closed.") % {"day": day.isoformat()}) from clash
        record_event(action="TILL_CLOSED", obj=till, occurred_at=closed_at, reason=reason,
                     detail={"day": day.isoformat(), "booked": sheet.booked, "declared": declared,
                             "post_close_reversals": sheet.post_close_by_channel, "expected": expected,
                             "differences": differences, "difference_fen": difference})
    return till


def may_supervise(user, hall: Hall) -> bool:
    if user is None or not user.is_active:
        return False
    if user.is_superuser or user.has_role(Role.Code.ADMIN):
        return True
    return user.has_role(Role.Code.SUPERVISOR) and user.city_id == hall.city_id


def sign_off(*, till: TillDay, supervisor, signed_at: datetime) -> TillDay:
    """A supervisor of the hall's city accepts an over or short. Audited. Raises TillError."""
    if not may_supervise(supervisor, till.hall):
        raise TillError(_("Only a supervisor of the hall's city may sign off a till."))
    if supervisor.pk == till.clerk_id:
        raise TillError(_("A clerk cannot sign off their own till."))
    with acting_as(dataclasses.replace(current_actor(), user=supervisor, hall=supervisor.hall)), transaction.atomic():
        till = TillDay.objects.select_for_update().get(pk=till.pk)
        if till.status != TillDay.Status.AWAITING_SIGN_OFF:
            return till
        till.status, till.signed_off_by, till.signed_off_at = TillDay.Status.SIGNED_OFF, supervisor, signed_at
        till.save(update_fields=["status", "signed_off_by", "signed_off_at"])
        record_event(action="TILL_SIGNED_OFF", obj=till, occurred_at=signed_at,
                     detail={"difference_fen": till.difference_fen, "reason": till.reason})
    return till


def hand_over(*, till: TillDay, user, slip_number: str, amount_fen: int, handed_at: datetime) -> TillDay:
    """解款: the closed day's cash handed to the bank, with the bank's slip number. Audited. Raises TillError."""
    slip = (slip_number or "").strip()
    if not slip or len(slip) > 64:
        raise TillError(_("Bank slip number: 1 to 64 characters."), field="slip_number")
    if user.pk != till.clerk_id and not may_supervise(user, till.hall):
        raise TillError(_("Only the clerk or a supervisor may record the hand-over."))
    with acting_as(dataclasses.replace(current_actor(), user=user, hall=till.hall)), transaction.atomic():
        till = TillDay.objects.select_for_update().get(pk=till.pk)
        if till.bank_slip_number:
            raise TillError(_("The hand-over was already recorded (slip %(slip)s).") % {"slip": till.bank_slip_number})
        till.bank_slip_number, till.handed_over_fen, till.handed_over_at = slip, amount_fen, handed_at
        till.save(update_fields=["bank_slip_number", "handed_over_fen", "handed_over_at"])
        record_event(action="TILL_HANDED_OVER", obj=till, occurred_at=handed_at,
                     detail={"slip": slip, "amount_fen": amount_fen})
    return till


def hall_closes(*, halls, day: date) -> list[TillDay]:
    """Each clerk's close of ``day`` at ``halls``, for the supervisor."""
    return list(TillDay.objects.filter(hall__in=list(halls), business_date=day)
                .select_related("clerk", "hall", "signed_off_by").order_by("hall__code", "clerk__username"))


def reversals_of_day(*, halls, day: date) -> list[Reversal]:
    """The reversals made on ``day`` of payments taken at ``halls`` (clerks' own and supervisors'), for the
    supervisor; those after a close are marked ``after_close``."""
    return list(Reversal.objects.filter(payment__hall__in=list(halls), reversed_date=day)
                .select_related("payment__account", "payment__clerk", "payment__hall", "reversed_by")
                .order_by("reversed_at", "id"))
