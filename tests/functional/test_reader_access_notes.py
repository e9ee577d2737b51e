"""Access notes per stop: the reader writes how to reach a meter; the route shows it; audited; scoped."""
from __future__ import annotations

import pytest

from gridcounter.data.audit.models import AuditEvent
from gridcounter.data.readings.models import AccessNote

pytestmark = pytest.mark.django_db


def test_the_reader_writes_an_access_note_and_the_route_shows_it(client, reader_route):
    _account, meter, _last = reader_route.stops[2]
    client.force_login(reader_route.reader)

    response = client.post("/reader/notes/", {"meter": meter.asset_number, "text": "有狗，钥匙在  邻居家"})

    assert response.status_code == 302 and response["Location"].endswith(f"#stop-{_account.number}")
    page = client.get("/reader/").content.decode()
    assert "到达说明： 有狗，钥匙在 邻居家" in page
    note = AccessNote.objects.get(meter=meter)
    assert AuditEvent.objects.filter(action="ACCESS_NOTE_SET", object_id=str(note.pk),
                                     user=reader_route.reader).exists()


def test_only_the_citys_readers_write_access_notes(client, reader_route):
    client.force_login(reader_route.reader)
    other = client.post("/reader/notes/", {"meter": reader_route.stranger_meter.asset_number, "text": "x"})
    client.force_login(reader_route.clerk)
    clerk = client.post("/reader/notes/", {"meter": reader_route.stops[1][1].asset_number, "text": "x"})

    assert (other.status_code, clerk.status_code) == (404, 403)
    assert not AccessNote.objects.exists()
