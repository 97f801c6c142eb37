"""``registrations.views.public``: asking for a fresh manage link reveals nothing."""

import logging
import smtplib
from unittest import mock

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, example, given, settings
from kombu.exceptions import OperationalError

from courses.models import Offering
from registrations import intake
from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import registration_in
from tests.registrations.helpers import confirm_work_email, open_offering, submit
from tests.registrations.test_addresses import typed
from tests.services import wait_for

KNOWN = "ana.test+cit@denver911.example.gov"
UNKNOWN = "zed.nobody@denver911.example.gov"

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


def test_known_and_unknown_addresses_get_the_same_work_and_page(
    client, offering, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    cache.clear()
    settings.RATELIMIT_ENABLE = True  # the limiter is on the path, for both
    with (
        CaptureQueriesContext(connection) as known_queries,
        django_capture_on_commit_callbacks() as known_tasks,
    ):
        known = client.post("/r/link/", {"email": KNOWN})
    with (
        django_assert_num_queries(len(known_queries)) as unknown_queries,
        django_capture_on_commit_callbacks() as unknown_tasks,
    ):
        unknown = client.post("/r/link/", {"email": UNKNOWN})
    assert [q["sql"] for q in known_queries] == [q["sql"] for q in unknown_queries]
    assert not any("registrations_registration" in q["sql"] for q in known_queries)
    assert known.status_code == unknown.status_code == 200
    assert known.content.decode().replace(KNOWN, "@") == unknown.content.decode().replace(
        UNKNOWN, "@"
    )
    # Each request handed one task to the worker; only the known address gets a link.
    assert len(known_tasks) == len(unknown_tasks) == 1
    assert not mail.outbox
    with django_capture_on_commit_callbacks(execute=True):
        known_tasks[0]()
        unknown_tasks[0]()
    [message] = mail.outbox
    assert message.to[0].endswith(f"<{KNOWN}>") and "/r/manage/" in message.body


def test_a_lost_link_request_still_answers_alike(
    client, offering, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO)
    with (
        mock.patch.object(
            intake.send_manage_links, "apply_async", side_effect=OperationalError("down")
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post("/r/link/", {"email": KNOWN})
    assert response.status_code == 200 and b"Check your email" in response.content
    assert "registrations.link_request_lost error=OperationalError" in caplog.text
    assert KNOWN not in caplog.text


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=typed)
@example(value="ana@denver911.example.gov\u200b")
def test_any_typed_address_gets_the_page_or_a_message(client, value):
    response = client.post("/r/link/", {"email": value})
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.context["form"].errors["email"]


def test_logs_name_registrations_and_emails_by_id_never_by_address(
    client, offering, agency, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO)
    addresses = ("ana.test+cit@denver911.example.gov", "ana.test@denver911.example.gov",
                 "sam.super@denver911.example.gov")  # fmt: skip
    submit(client, offering, django_capture_on_commit_callbacks)
    confirm_work_email(client, addresses[1], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/r/link/", {"email": addresses[0].upper()})
    # A temporary and then a permanent failure log too.
    row = OutboundEmail.objects.filter(to_email=addresses[0]).latest("pk")
    OutboundEmail.objects.filter(pk=row.pk).update(status=OutboundEmail.Status.QUEUED)
    for error in (
        smtplib.SMTPDataError(451, b"4.3.0 try later"),
        smtplib.SMTPRecipientsRefused({addresses[0]: (550, b"5.1.1 no such user")}),
    ):
        OutboundEmail.objects.filter(pk=row.pk).update(next_attempt_at=None)
        with mock.patch.object(outbox.EmailMultiAlternatives, "send", side_effect=error):
            outbox.email_send(row.pk)
    registration = Registration.objects.get()
    text = caplog.text.lower()
    for expected in ("email.queued", "email.sent", "email.retry", "email.failed",
                     "registrations.links_requested"):  # fmt: skip
        assert expected in text
    assert f"registration={registration.pk}" in text
    assert f"registrations=[{registration.pk}]" in text
    for address in addresses:
        assert address.lower() not in text
        assert address.split("@")[0].lower() not in text
    assert "@" not in text


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_looks_the_address_up_and_sends_the_link(client, course, mail_worker):
    registration = registration_in(Registration.State.ELIGIBLE, open_offering(course), email=KNOWN)
    with mail_worker.start():
        assert client.post("/r/link/", {"email": UNKNOWN}).status_code == 200
        assert client.post("/r/link/", {"email": KNOWN}).status_code == 200
        wait_for(lambda: len(mail_worker.handler.messages) >= 1, timeout=30)
    [message] = mail_worker.handler.messages
    assert KNOWN in str(message["To"]) and OutboundEmail.objects.get().registration == registration
