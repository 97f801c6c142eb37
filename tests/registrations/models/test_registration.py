"""``registrations.models.registration``: the database keeps one active registration per email
and class."""

import pytest
from django.utils import timezone

from courses.models import Offering
from registrations.models import Registration
from tests.registrations.helpers import open_offering

S = Registration.State
pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def test_database_constraint_refuses_a_second_active_registration(offering):
    from django.db import IntegrityError, transaction

    fields = {
        "offering": offering, "first_name": "A", "last_name": "B", "role": "other",
        "employer_name": "E", "employer_city": "C", "employer_state": "CO",
        "work_email": "a@e.gov", "supervisor_name": "S", "supervisor_email": "s@e.gov",
        "attested_at": timezone.now(), "participation_acknowledged_at": timezone.now(),
        "terms_accepted_at": timezone.now(),
    }  # fmt: skip
    Registration.objects.create(email="a@e.gov", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(email="A@E.GOV", **fields)
    Registration.objects.filter(email="a@e.gov").update(state=S.CANCELLED)
    Registration.objects.create(email="A@E.GOV", **fields)  # allowed once the first is inactive
