"""``registrations.payments.cancellation``: the attendee's cancellation follows the refund
policy; cancelling a hold expires its checkout (or says nothing changed); a cancellation and the
hold sweeper do not deadlock. Also the offering admin's refusal to cancel a class that still has
active registrations (``courses.admin``), which sends staff here first."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection

from registrations import links
from registrations.messaging import notices
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import cancellation, checkout
from registrations.payments.models import Payment
from registrations.seats import booking, queries
from registrations.transitions import Actor
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import (
    completed_for,
    confirmed,
    deliver,
    eligible,
    offer_to_second_person,
    one_seat_class,
    pay,
)
from tests.services import wait_for

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("days_before", "refunded_cents", "end_state"),
    [(20, 25000, S.REFUNDED), (5, 12500, S.CANCELLED), (1, 0, S.CANCELLED)],
)
def test_self_cancellation_follows_the_refund_policy(
    course, standin, client, days_before, refunded_cents, end_state
):
    offering = open_offering(course)
    registration = confirmed(offering, standin, client)

    first = offering.session_list[0].starts_at
    with time_machine.travel(first - timedelta(days=days_before, hours=1)):
        page = client.get(links.manage_path(registration), follow=True).content.decode()
        assert f"get back <strong>${refunded_cents // 100}" in page
        client.post(links.manage_path(registration), {"cancel": "1"}, follow=True)
    registration.refresh_from_db()
    assert registration.state == end_state
    assert Payment.objects.get().amount_refunded_cents == refunded_cents
    assert queries.seats_taken(offering) == 0
    # The calendar entries are withdrawn (iTIP CANCEL), once.
    [ended] = OutboundEmail.objects.filter(kind="place_ended", registration=registration)
    assert ended.status == "sent" and "text/calendar; method=CANCEL" in str(ended.attachments)


def test_cancelling_a_hold_whose_payment_just_completed_keeps_no_money(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    with pytest.raises(checkout.CheckoutUnavailable, match="just been completed"):
        cancellation.registration_cancel(registration, actor=Actor.attendee(), reason="x")
    deliver(client, completed_for(standin, url))
    cancellation.registration_cancel(registration, actor=Actor.attendee(), reason="x")
    registration.refresh_from_db()
    payment = Payment.objects.get()
    assert registration.state == S.REFUNDED and payment.amount_refunded_cents == 25000


def test_declining_an_offer_expires_its_checkout(course, standin):
    offered = offer_to_second_person(one_seat_class(course))
    url = checkout.checkout_start(offered)
    cancellation.waitlist_leave(offered)
    offered.refresh_from_db()
    assert offered.state == S.CANCELLED
    assert pay(standin, url) != 303  # the session can no longer be paid


def test_admin_cancel_of_a_hold_with_stripe_down_says_so(course, standin, settings, admin_client):
    registration = eligible(open_offering(course))
    checkout.checkout_start(registration)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    response = admin_client.post("/admin/registrations/registration/", {
        "action": "cancel_and_refund", "_selected_action": [registration.pk], "apply": "1",
        "amount": "", "reason": "Test"}, follow=True)  # fmt: skip
    assert response.status_code == 200 and "nothing changed" in response.content.decode()
    assert Registration.objects.get(pk=registration.pk).state == S.HELD


def test_cancel_and_hold_sweeper_do_not_deadlock(course, standin):
    registration = eligible(open_offering(course))
    checkout.checkout_start(registration)
    registration.payments.update(status="expired")  # nothing to expire at Stripe
    locked = threading.Event()  # the cancel holds its locks
    sweeping = threading.Event()  # the sweeper is about to ask for them
    swept = threading.Event()  # the sweeper is done
    sweeper_pid: list[int] = []
    errors: dict[str, str] = {}
    real_send_cancelled = notices.send_cancelled

    def sweeper_waits_for_me() -> bool:
        """Whether the sweeper's database session waits for a lock this one holds."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid() = ANY(pg_blocking_pids(%s))", sweeper_pid)
            return cursor.fetchone()[0]

    def held_send_cancelled(reg):
        locked.set()  # the cancel holds its locks here, until the sweeper queues behind them
        sweeping.wait(5)
        wait_for(lambda: swept.is_set() or sweeper_waits_for_me(), timeout=10, interval=0.01)
        return real_send_cancelled(reg)

    def cancel():
        try:
            with mock.patch.object(notices, "send_cancelled", held_send_cancelled):
                cancellation.registration_cancel(registration, actor=Actor.attendee(), reason="x")
        except Exception as exc:  # noqa: BLE001
            errors["cancel"] = repr(exc)
        finally:
            connection.close()

    def sweep():
        locked.wait(5)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                sweeper_pid.append(cursor.fetchone()[0])
            sweeping.set()
            booking.release_seat(registration.pk, reason="sweeper")
        except Exception as exc:  # noqa: BLE001
            errors["release"] = repr(exc)
        finally:
            swept.set()
            connection.close()

    threads = [threading.Thread(target=cancel), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == {}
    assert Registration.objects.get(pk=registration.pk).state == S.CANCELLED


def test_offering_with_active_registrations_cannot_be_cancelled(course, admin_client):
    offering = open_offering(course)
    eligible(offering)
    response = admin_client.get(f"/admin/courses/offering/{offering.pk}/change/")
    assert response.status_code == 200
    data = {
        "course": course.pk, "status": "cancelled", "part_of_day": "day", "capacity": 24,
        "time_zone": "America/Denver",
        "registration_opens_at_0": "2026-01-01", "registration_opens_at_1": "00:00:00",
        "registration_closes_at_0": "", "registration_closes_at_1": "",
        "sessions-TOTAL_FORMS": "0", "sessions-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = admin_client.post(f"/admin/courses/offering/{offering.pk}/change/", data)
    assert "1 active registration(s)" in response.content.decode()


@pytest.mark.django_db
def test_a_refund_goes_back_to_tuition_never_to_a_transfer_fee(course):
    offering = open_offering(course)
    registration = offering.registrations.create(
        first_name="Ida",
        last_name="Holm",
        email="ida@example.org",
        role="call_taker",
        employer_name="Agency",
        employer_city="Denver",
        work_email="ida@denver911.example.gov",
        supervisor_name="Pat",
        supervisor_email="pat@denver911.example.gov",
        attested_at=offering.registration_opens_at,
        terms_accepted_at=offering.registration_opens_at,
        participation_acknowledged_at=offering.registration_opens_at,
        state=S.CONFIRMED,
    )
    tuition = Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        amount_cents=25000,
        amount_refunded_cents=20000,
        idempotency_key="t",
    )
    Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        purpose=Payment.Purpose.TRANSFER_FEE,
        transfer_to=offering,
        amount_cents=10000,
        idempotency_key="f",
    )
    assert cancellation.paid_payment(registration) == tuition
