"""``registrations.views.public``: asking for a fresh manage link reveals nothing."""

import pytest
from django.core import mail

from courses.models import Offering
from tests.registrations.helpers import open_offering, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def test_request_a_new_link_reveals_nothing(client, offering, django_capture_on_commit_callbacks):
    submit(client, offering, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/r/link/", {"email": "ANA.TEST+cit@denver911.example.gov"})
        unknown = client.post("/r/link/", {"email": "nobody@example.org"})
    assert b"If " in known.content and b"If " in unknown.content
    [message] = mail.outbox
    assert "/r/manage/" in message.body
