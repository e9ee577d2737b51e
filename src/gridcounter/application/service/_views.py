"""A request as its page, the API and the lists show it: each step with who did it and when, its due date and time
limit, the documents it needs and those kept; what blocks the current step; how late it is."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from gridcounter.application.working_calendar import working_calendar
from gridcounter.data.service.models import ServiceDocument, ServiceRequest, ServiceStep
from gridcounter.domain.service import Refusal, document_name, role_name, step_name
from gridcounter.domain.working_days import OutsideWorkingCalendar, working_days_overdue

from ._requests import blocker_of, chinese, request_type_of


@dataclass
class StepView:
    code: str
    name: str
    role: str
    role_name: str
    days: int
    limit_source: str
    state: str  # DONE, CURRENT, AHEAD
    due_date: date | None = None
    done: ServiceStep | None = None
    documents_needed: list[str] = field(default_factory=list)  # one line per group ("proof of the address or …")
    documents: list[ServiceDocument] = field(default_factory=list)  # kept while this step was current

    @property
    def on_time(self) -> bool | None:
        return None if self.done is None else self.done.on_time


@dataclass
class RequestView:
    request: ServiceRequest
    type_name: str
    steps: list[StepView]
    current: StepView | None
    overdue_days: int  # working days the current step is late (0: on time)
    blocker: Refusal | None
    blocker_text: str
    documents: list[ServiceDocument]


def overdue_days(request: ServiceRequest, *, as_of: date) -> int:
    """Working days the current step is late on `as_of`; 0 when on time, done, or not countable yet."""
    if request.state != ServiceRequest.State.OPEN or request.current_due_date is None:
        return 0
    try:
        return working_days_overdue(due=request.current_due_date, as_of=as_of, calendar=working_calendar())
    except OutsideWorkingCalendar:
        return 0


def request_view(request: ServiceRequest, *, as_of: date) -> RequestView:
    zh = chinese()
    kind = request_type_of(request)
    done = {s.step: s for s in request.steps.select_related("completed_by", "hall")}
    documents = list(request.documents.select_related("uploaded_by").order_by("uploaded_at", "id"))
    for document in documents:
        document.label = document_name(document.kind, zh=zh)
    steps = []
    current = None
    for step in kind.steps:
        state = "DONE" if step.code in done else ("CURRENT" if step.code == request.current_step else "AHEAD")
        view = StepView(
            code=step.code, name=step_name(step.code, zh=zh), role=step.role, role_name=role_name(step.role, zh=zh),
            days=step.days, limit_source=step.limit_source, state=state,
            due_date=done[step.code].due_date if step.code in done else (
                request.current_due_date if state == "CURRENT" else None),
            done=done.get(step.code),
            documents_needed=[(" 或 " if zh else " or ").join(document_name(k, zh=zh) for k in sorted(group))
                              for group in step.documents],
            documents=[d for d in documents if d.step == step.code])
        if state == "CURRENT":
            current = view
        steps.append(view)
    blocker = blocker_of(request)
    return RequestView(request=request, type_name=kind.name(zh=zh), steps=steps, current=current,
                       overdue_days=overdue_days(request, as_of=as_of), blocker=blocker,
                       blocker_text=blocker.text(zh=zh) if blocker else "", documents=documents)
