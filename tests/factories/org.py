"""Companies, cities, halls and staff with their roles.

No use case creates a company, a city, a hall or a member of staff (they come from the administrator's setup), so
these rows are made directly; the roles go through `registry.ensure_roles`, as the application makes them.
"""
from __future__ import annotations

from gridcounter.application.registry import ensure_roles
from gridcounter.data.org.models import City, Company, Hall, StaffUser


def company(*, code: str, name: str) -> Company:
    """The company with this code (made on first use)."""
    return Company.objects.get_or_create(code=code, defaults={"name": name})[0]


def city(*, company: Company, code: str, name: str, province: str = "BJ") -> City:
    """A city of `company` (made directly: no use case creates one)."""
    return City.objects.create(company=company, code=code, name=name, province=province)


def hall(*, city: City, code: str, name: str, kind: str = Hall.Kind.CITY) -> Hall:
    """A service hall of `city` (made directly: no use case creates one)."""
    return Hall.objects.create(city=city, code=code, name=name, kind=kind)


def staff(username: str, *, hall: Hall | None, roles: tuple[str, ...] = (), display_name: str = "",
          password: str | None = None, password_hash: str | None = None, **extra) -> StaffUser:
    """A member of staff at `hall` with `roles` (Role codes), made directly: no use case creates staff.

    No password gives an unusable one (no hashing: fast); `password` is hashed (slow on purpose: Argon2);
    `password_hash` is stored as it is (one hash shared by a world's staff).
    """
    if password_hash is not None:
        user = StaffUser.objects.create(username=username, hall=hall, display_name=display_name,
                                        password=password_hash, **extra)
    else:
        user = StaffUser.objects.create_user(username=username, password=password, hall=hall,
                                             display_name=display_name, **extra)
    if roles:
        known = ensure_roles()
        user.roles.add(*(known[code] for code in roles))
    return user
