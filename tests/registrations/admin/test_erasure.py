"""``registrations.admin.erasure``: "Erase personal data…" needs ``erase_personal_data``, shows
what stays and what Stripe keeps before anything happens, erases on a CSRF-protected POST and
refuses while a registration is active."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from registrations.models import Registration
from registrations.transitions import Actor, registration_transition
from tests.factories import make_offering, registration_in
from tests.registrations.helpers import open_offering
from tests.registrations.privacy.conftest import paid, person_fields, travel

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/registrations/registration/"


def staff_client(django_user_model, *codenames: str) -> tuple[Client, object]:
    user = django_user_model.objects.create_user("officer", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def records(course):
    """A training record of a class that ended a year ago (paid) and a cancelled registration
    for a class to come, both with the course email lima.course@example.org."""
    now = timezone.now()
    past = make_offering(
        course, (now - timedelta(days=366)).date(), registration_opens_at=now - timedelta(days=400)
    )
    with travel(now - timedelta(days=380)):
        record = registration_in(Registration.State.CONFIRMED, past, **person_fields("lima", 12))
        paid(record)
    cancelled = registration_in(
        Registration.State.ELIGIBLE, open_offering(course), **person_fields("lima", 12)
    )
    registration_transition(
        registration_id=cancelled.pk, to_state="cancelled", actor=Actor.system()
    )
    return record, cancelled


def action(client: Client, *pks: int, **extra: str):
    return client.post(
        CHANGELIST, {"action": "erase_personal_data", "_selected_action": pks, **extra}
    )


def test_the_action_is_refused_without_the_permission(django_user_model, records):
    client, _ = staff_client(django_user_model, "view_registration", "change_registration")
    record, _ = records

    assert b"erase_personal_data" not in client.get(CHANGELIST).content
    action(client, record.pk, confirm="yes")

    record.refresh_from_db()
    assert record.phone == "303-555-0012" and record.sensitive_details_removed_at is None


def test_the_confirmation_page_says_what_stays_and_what_stripe_keeps(django_user_model, records):
    client, _ = staff_client(django_user_model, "view_registration", "erase_personal_data")
    record, cancelled = records
    assert b'value="erase_personal_data"' in client.get(CHANGELIST).content

    page = action(client, cancelled.pk)

    text = re.sub(r"\s+", " ", page.content.decode())
    assert page.status_code == 200
    assert f"#{record.pk}" in text and f"#{cancelled.pk}" in text
    assert "lima.course@example.org" in text
    assert "Contact and sensitive details removed; the training record is kept" in text
    assert "Anonymised: name, addresses, employer and every detail removed" in text
    assert "Payments and refunds" in text and "financial record" in text
    assert "Training records" in text and "2557 days (about 7 years)" in text
    assert "What Stripe keeps" in text and "Stripe dashboard" in text
    assert f"cs_test_{record.pk}" in text
    assert "csrfmiddlewaretoken" in text and 'name="confirm" value="yes"' in text
    record.refresh_from_db()
    assert record.phone  # nothing happened yet


def test_confirming_erases_and_records_the_staff_user(django_user_model, records):
    client, user = staff_client(django_user_model, "view_registration", "erase_personal_data")
    record, cancelled = records
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(user)
    assert action(guarded, record.pk, confirm="yes").status_code == 403

    response = action(client, record.pk, confirm="yes")

    assert response.status_code == 302
    record.refresh_from_db()
    cancelled.refresh_from_db()
    assert (record.first_name, record.phone, record.supervisor_name) == ("Lima", "", "")
    assert cancelled.first_name == "Erased"
    assert Registration.history.filter(id=record.pk).first().history_user == user
    assert record.events.last().reason.startswith("Personal data erased on request by officer.")
    messages = [m.message for m in response.wsgi_request._messages]
    assert any("1 registration(s) anonymised, 1 training record(s) kept" in m for m in messages)


def test_an_active_registration_is_refused_with_a_clear_message(django_user_model, records):
    client, _ = staff_client(django_user_model, "view_registration", "erase_personal_data")
    record, cancelled = records
    active = registration_in(
        Registration.State.CONFIRMED,
        make_offering(record.offering.course, timezone.now().date() + timedelta(days=90),
                      evening=True),
        **{**person_fields("lima", 12), "email": "Lima.Course@example.org"},
    )  # fmt: skip

    page = action(client, record.pk)
    text = re.sub(r"\s+", " ", page.content.decode())
    assert f"Nothing can be erased yet: #{active.pk} is still active" in text
    assert "Cancel it first" in text and 'name="confirm"' not in text

    response = action(client, record.pk, confirm="yes")
    record.refresh_from_db()
    assert record.phone == "303-555-0012"
    messages = [m.message for m in response.wsgi_request._messages]
    assert any("Cancel them first" in m for m in messages)


def test_one_person_at_a_time(django_user_model, records):
    client, _ = staff_client(django_user_model, "view_registration", "erase_personal_data")
    record, cancelled = records
    other = registration_in(Registration.State.ELIGIBLE, cancelled.offering)

    response = action(client, record.pk, other.pk, confirm="yes")

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.phone == "303-555-0012"
    messages = [m.message for m in response.wsgi_request._messages]
    assert any("one person (one course email) at a time" in m for m in messages)
