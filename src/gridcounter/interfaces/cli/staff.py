"""The `--user USERNAME` option of the import and export commands: who is recorded as doing it."""
from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from gridcounter.data.org.models import StaffUser


def staff_user(username: str | None) -> StaffUser | None:
    """The staff member named, None without a name (a system job). Raises CommandError (exit 2) for no such user."""
    if not username:
        return None
    user = StaffUser.objects.filter(username=username).select_related("hall").first()
    if user is None:
        raise CommandError(_("no staff user “%(name)s”") % {"name": username}, returncode=2)
    return user
