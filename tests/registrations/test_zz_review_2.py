"""Review proofs (temporary), part 2."""
import threading
import time
from unittest import mock

import pytest
from django.db import connection

from registrations import booking, cancellation, checkout, notices
from registrations.models import Registration
from registrations.transitions import Actor
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import eligible, running_standin

S = Registration.State
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def standin(settings):
    with running_standin(settings) as server:
        yield server


def test_stripe_outage_on_offer_click_throws_the_offer_away(course, standin, settings):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    a = eligible(offering, email="a@denver911.example.gov")
    checkout.checkout_start(a)
    b = eligible(offering, email="b@denver911.example.gov")
    booking.join_waitlist(b)
    booking.release_seat(a.pk, reason="Seat hold expired unpaid.")
    b.refresh_from_db()
    assert b.state == S.HELD and b.hold_is_offer
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"   # Stripe briefly unreachable
    with pytest.raises(checkout.CheckoutUnavailable):
        checkout.checkout_start(b)
    b.refresh_from_db()
    print("STATE", b.state)
    assert b.state == S.HELD   # the 24-hour offer should survive a transient Stripe error


def test_admin_cancel_of_held_registration_when_stripe_down_is_500(course, standin, settings, admin_client):
    reg = eligible(open_offering(course))
    checkout.checkout_start(reg)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    admin_client.raise_request_exception = False
    response = admin_client.post(
        "/admin/registrations/registration/",
        {"action": "cancel_and_refund", "_selected_action": [reg.pk], "apply": "1",
         "amount": "", "reason": "Test"},
    )
    print("STATUS", response.status_code)
    assert response.status_code != 500


def test_cancel_vs_release_deadlock(course, standin):
    reg = eligible(open_offering(course))
    checkout.checkout_start(reg)
    # No open session to expire at Stripe (keeps the test on the locking path).
    reg.payments.update(status="expired")
    got_reg_lock = threading.Event()
    errors = {}
    real_send_cancelled = notices.send_cancelled

    def slow_send_cancelled(registration):
        got_reg_lock.set()          # T1 holds the registration row lock here
        time.sleep(0.5)             # T2 takes the offering lock meanwhile
        return real_send_cancelled(registration)

    def t1():
        try:
            with mock.patch.object(notices, "send_cancelled", slow_send_cancelled):
                cancellation.registration_cancel(reg, actor=Actor.attendee(), reason="x")
        except Exception as exc:  # noqa: BLE001
            errors["cancel"] = repr(exc)
        finally:
            connection.close()

    def t2():
        got_reg_lock.wait(5)
        try:
            booking.release_seat(reg.pk, reason="sweeper")
        except Exception as exc:  # noqa: BLE001
            errors["release"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=t1), threading.Thread(target=t2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    print("ERRORS", errors)
    assert not errors
