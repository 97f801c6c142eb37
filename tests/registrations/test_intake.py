"""``registrations.intake``: registering (normalised values, closed classes, duplicates, races)
and the attendee's email change."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings

from courses.models import Offering
from registrations import intake, links
from registrations.forms import RegistrationForm
from registrations.models import Registration
from tests.factories import make_offering
from tests.registrations.helpers import form_data, open_offering, register_url, submit
from tests.registrations.stripe_helpers import eligible
from tests.registrations.test_addresses import hidden, typed

S = Registration.State


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.django_db
def test_valid_form_creates_registration_and_sends_work_email_link(
    client, offering, django_capture_on_commit_callbacks
):
    long_name = "Wolfeschlegelsteinhausenbergerdorff" * 4
    response = submit(
        client,
        offering,
        django_capture_on_commit_callbacks,
        last_name=long_name,
        email="  Ana.Test+CIT@Mail.Denver911.example.gov ",
        time_zone="Not/AZone",
    )
    assert response.status_code == 302 and response["Location"] == "/registered/"
    registration = Registration.objects.get()
    assert registration.state == S.PENDING_EMAIL
    assert registration.last_name == long_name
    assert registration.email == "Ana.Test+CIT@mail.denver911.example.gov"
    assert registration.time_zone == ""  # not in the zone database: dropped, not an error
    assert registration.attested_at and registration.terms_accepted_at
    [message] = mail.outbox
    assert message.to == [f"Ana {long_name} <ana.test@denver911.example.gov>"]
    assert "Confirm your work email" in message.subject
    page = client.get("/registered/")
    assert b"Check your email" in page.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "days", "message"),
    [
        (Offering.Status.CANCELLED, 60, "This class has been cancelled."),
        (Offering.Status.PUBLISHED, -400, "This class has already taken place."),
    ],
)
def test_closed_offerings_refuse_registration(client, course, status, days, message):
    with time_machine.travel(
        timezone.now() + timedelta(days=min(days, 0) * -1 - 1 if days < 0 else 0)
    ):
        pass
    first_day = (timezone.now() + timedelta(days=days)).date()
    if days < 0:
        with time_machine.travel(timezone.now() + timedelta(days=days - 30)):
            offering = make_offering(course, first_day, status=status)
    else:
        offering = make_offering(course, first_day, status=status)
    response = client.post(register_url(offering), form_data())
    assert response.status_code == 409
    assert message in response.content.decode()
    assert not Registration.objects.exists()


@pytest.mark.django_db
def test_registering_twice_sends_a_fresh_link_instead(
    client, offering, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks)
    first_page = client.get("/registered/").content
    response = submit(
        client,
        offering,
        django_capture_on_commit_callbacks,
        email="ANA.TEST+cit@DENVER911.example.gov",
    )
    assert response.status_code == 302
    assert Registration.objects.count() == 1
    # The page after the form does not tell whether the address had registered (the email
    # does): apart from the address as typed, it is the page a first registration gets.
    second_page = client.get("/registered/").content
    assert second_page.replace(b"ANA.TEST+cit", b"ana.test+cit") == first_page
    assert "Your registration for" in mail.outbox[-1].subject


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_duplicate_registrations_make_one(course):
    offering = open_offering(course)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post():
        barrier.wait()
        try:
            statuses.append(Client().post(register_url(offering), form_data()).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [302, 302]
    assert Registration.objects.count() == 1


@pytest.mark.django_db
def test_email_change_onto_another_registration_is_refused(client, offering):
    registration = eligible(offering, email="ana@example.org")
    eligible(offering, email="gina@example.org")
    response = client.post(
        links.manage_path(registration),
        {"change_email": "1", "new_email": "GINA@example.org"},
        follow=True,
    )
    assert "already has a registration for this class" in response.content.decode()
    registration.refresh_from_db()
    assert registration.pending_email == ""


@pytest.mark.django_db
def test_case_only_email_correction_applies_at_once(client, offering):
    registration = eligible(offering, email="ana@example.org")
    response = client.post(
        links.manage_path(registration),
        {"change_email": "1", "new_email": "Ana@example.org"},
        follow=True,
    )
    assert "Your course email is Ana@example.org." in response.content.decode()
    registration.refresh_from_db()
    assert (registration.email, registration.pending_email) == ("Ana@example.org", "")
    assert not mail.outbox


# --- addresses are clean in the database, whoever calls -------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", intake.EMAIL_FIELDS)
def test_the_service_refuses_hidden_characters_that_bypass_the_form(offering, field):
    form = RegistrationForm(form_data())
    assert form.is_valid()
    data = form.registration_data()
    data[field] = "ana@denver911.example.gov\u200b"
    with pytest.raises(ValidationError, match="ZERO WIDTH SPACE"):
        intake.registration_submit(offering=offering, data=data)
    data[field] = "Ana@Bücher.Example"
    result = intake.registration_submit(offering=offering, data=data)
    assert getattr(result.registration, field) == "Ana@xn--bcher-kva.example"


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=typed)
def test_a_new_course_email_reaches_the_database_only_clean(offering, value):
    with transaction.atomic():
        registration = eligible(offering, email="ana@example.org")
        try:
            intake.email_change_request(registration, value)
        except (ValidationError, intake.EmailChangeRefused):
            pass
        registration.refresh_from_db()
        assert not hidden(registration.pending_email) and not hidden(registration.email)
        transaction.set_rollback(True)
