"""``registrations.forms``: bad values are refused with a message; odd ones are cleaned."""

import pytest

from courses.models import Offering
from registrations.models import Registration
from tests.registrations.helpers import form_data, open_offering, register_url, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "a@localhost", "full domain name"),
        ("email", "a@[127.0.0.1]", "full domain name"),
        ("phone", "call me maybe <b>", "Enter a phone number"),
        ("last_name", "\u200b", "This field is required."),
        ("accessibility_needs", "x" * 2001, "under 2,000 characters"),
    ],
)
def test_bad_values_are_refused_with_a_message(client, offering, field, value, message):
    response = client.post(register_url(offering), form_data(**{field: value}))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Registration.objects.exists()


def test_line_breaks_and_odd_zones_are_cleaned(
    client, offering, django_capture_on_commit_callbacks
):
    submit(
        client, offering, django_capture_on_commit_callbacks,
        first_name="Ana\r\nBcc: evil@example.org", phone=" 303 555 0100 x12 ", time_zone="Factory",
    )  # fmt: skip
    registration = Registration.objects.get()
    assert registration.first_name == "Ana Bcc: evil@example.org"
    assert registration.phone == "303 555 0100 x12"
    assert registration.time_zone == ""
