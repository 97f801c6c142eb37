"""Completed registrations of the December 12–13, 2024 class (``tests.attendance_fixtures``)
with their instructors, for the certificate tests; staff accounts come from the admin's tests."""

import pytest
from django.contrib.auth import get_user_model

from registrations.models import Registration
from registrations.transitions import Actor, registration_transition
from tests.factories import registration_in
from tests.registrations.admin.conftest import staff  # noqa: F401 -- a fixture, used by name


def complete(registration: Registration) -> Registration:
    """``registration`` (confirmed) moved to completed, as finalising attendance does."""
    registration_transition(
        registration_id=registration.pk, to_state="completed", actor=Actor.system()
    )
    return Registration.objects.select_related("offering__course").get(pk=registration.pk)


@pytest.fixture
def instructors(december_class):
    users = get_user_model().objects
    dana = users.create_user("dana", first_name="Dana", last_name="Cole", is_staff=True)
    lee = users.create_user("lee", first_name="Lee", last_name="Park", is_staff=True)
    december_class.instructors.add(lee, dana)
    return [dana, lee]


@pytest.fixture
def completed(december_class, instructors):
    """``completed(first, last)``: a completed registration in the December class."""

    def make(first: str = "Zoë", last: str = "Ångström", **fields) -> Registration:
        return complete(
            registration_in(
                Registration.State.CONFIRMED,
                december_class,
                first_name=first,
                last_name=last,
                **fields,
            )
        )

    return make
