"""Fixtures of the real December 12–13, 2024 class with the people of the demo participants
reports (``registrations/attendance/demo/``): shared by the attendance, admin, privacy and
browser tests (a pytest plugin, ``tests/conftest.py``)."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from registrations.models import Registration
from tests.factories import make_offering, registration_in

ATTENDANCE_DATA = Path(__file__).resolve().parents[1] / "registrations" / "attendance" / "demo"
# (first, last, course email, work email) as they registered.
ATTENDANCE_PEOPLE = [
    ("Ana", "Test", "ana.test@denver-psap.example.gov", "ana.test@denver-psap.example.gov"),
    ("Ben", "Sample", "ben.sample@metro-ecc.example.gov", "ben.sample@metro-ecc.example.gov"),
    ("Cara", "Example", "cara.home@example.com", "cara.example@springs-911.example.gov"),
    ("Dev", "Placeholder", "dev.placeholder@county911.example.org", "dev@county911.example.org"),
    ("José", "Núñez", "jose.nunez@ciudad-psap.example.gov", "jose.nunez@ciudad-psap.example.gov"),
    ("Zoë", "Ångström", "zoe.angstrom@north-ecc.example.gov", "zoe.angstrom@north-ecc.example.gov"),
]  # fmt: skip


@pytest.fixture
def december_class(course):
    return make_offering(
        course, date(2024, 12, 12), registration_opens_at=datetime(2024, 10, 1, tzinfo=UTC)
    )


@pytest.fixture
def attendees(december_class) -> dict[str, Registration]:
    return {
        first: registration_in(
            Registration.State.CONFIRMED,
            december_class,
            first_name=first,
            last_name=last,
            email=email,
            work_email=work,
        )  # fmt: skip
        for first, last, email, work in ATTENDANCE_PEOPLE
    }


@pytest.fixture
def zoom_day_1() -> bytes:
    return (ATTENDANCE_DATA / "zoom-participants-2024-12-12.csv").read_bytes()


@pytest.fixture
def teams_day_2() -> bytes:
    return (ATTENDANCE_DATA / "teams-attendance-2024-12-13.csv").read_bytes()
