"""Drill: the web's database connection is terminated (``pg_terminate_backend`` from a second
connection) in the middle of a checkout request, right after Stripe made the Checkout Session and
before citreg stored it.

The attendee presses Pay on the manage page of a real web server; the Stripe stand-in, when it
has made the session, terminates every connection of the web process to the test database
(``application_name`` ``citreg-drill-web``: only the drill's own). The request cannot store the
session, so the payment row stays ``creating`` while the session exists at Stripe (issue 13,
"States that never end"). Recovery is the production mechanism with short durations: the beat
task ``registrations.reconcile_payments`` (or the next Pay press) reconciles a payment left
``creating`` for ``CHECKOUT_RECONCILE_GRACE_SECONDS`` with Stripe.

Expected: the request answers the error page (a 5xx, quickly, not a hang); every later press
answers without an error; within five minutes a press leads to a Stripe checkout page again,
there is never more than one open session for the registration, and paying it confirms the seat.
The clock is the real one in every process.
"""

import time

import psycopg
import pytest
from django.db import connection

from registrations import links
from registrations.models import Registration
from registrations.payments.models import Payment
from tests.drills.harness import Browser, deliver_event, drill_services, poll
from tests.registrations.helpers import open_offering, path_of
from tests.registrations.stripe_helpers import (
    KEY,
    WHSEC,
    completed_for,
    eligible,
    pay,
    running_standin,
)
from tests.services import current_database_url

WEB_APPLICATION = "citreg-drill-web"
RECOVERY_LIMIT = 300  # seconds: "can pay again within five minutes"

pytestmark = [pytest.mark.drill, pytest.mark.django_db(transaction=True)]


def terminate_web_connections(dsn: str, database: str) -> int:
    """From a second connection, terminate the web's connections to ``database``; returns how
    many were terminated."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = %s",
            [database, WEB_APPLICATION],
        ).fetchall()
    return sum(1 for (terminated,) in rows if terminated)


def open_sessions(standin, registration: Registration) -> list[dict]:
    """The registration's open Checkout Sessions at the stand-in."""
    with standin.store.lock:
        return [
            session
            for session in standin.store.sessions.values()
            if session["status"] == "open"
            and session["metadata"].get("registration") == str(registration.pk)
        ]


def test_connection_killed_during_checkout_then_pay_again(course, settings, tmp_path):
    started = time.monotonic()
    db = connection.settings_dict
    database = db["NAME"]
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']}"
    dsn += f" dbname={database}"
    with running_standin(settings) as standin:
        registration = eligible(open_offering(course), email="ana@denver911.example.gov")
        terminated: list[int] = []
        create_session = standin.store.create_session

        def create_then_drop_the_web(params: dict) -> dict:
            session = create_session(params)
            if not terminated:  # the first checkout only
                terminated.append(terminate_web_connections(dsn, database))
            return session

        standin.store.create_session = create_then_drop_the_web  # type: ignore[method-assign]
        web_database = f"{current_database_url()}?application_name={WEB_APPLICATION}"
        with drill_services(
            "database-drop",
            STRIPE_SECRET_KEY=KEY,
            STRIPE_WEBHOOK_SECRET=WHSEC,
            STRIPE_API_BASE=standin.base_url,
            STRIPE_TIMEOUT_SECONDS="2",
            CHECKOUT_RECONCILE_GRACE_SECONDS="10",
        ) as drill:
            drill.worker()
            drill.beat(tmp_path)
            drill.web(workers=1, threads=1, DATABASE_URL=web_database)
            browser = Browser(drill.base_url, timeout=60)
            opened = browser.get(path_of(links.manage_url(registration)))
            assert opened.status_code == 303
            manage = opened.headers["Location"]
            assert browser.get(manage).status_code == 200

            began = time.monotonic()
            broken = browser.post(manage, data={"pay": "1"})
            broken_seconds = time.monotonic() - began
            assert terminated and terminated[0] >= 1  # the request's connection was cut
            assert broken.status_code == 500 and "Something went wrong" in broken.text
            assert broken_seconds < 20  # an error page, not a hang
            [stuck] = Payment.objects.filter(registration=registration)
            assert stuck.status == Payment.Status.CREATING
            assert stuck.stripe_checkout_session_id is None
            assert len(open_sessions(standin, registration)) == 1  # it exists at Stripe

            presses: list[tuple[int, float]] = []
            most_open = [1]

            def press_pay() -> str:
                assert browser.get(manage).status_code == 200
                began = time.monotonic()
                response = browser.post(manage, data={"pay": "1"})
                presses.append((response.status_code, time.monotonic() - began))
                most_open[0] = max(most_open[0], len(open_sessions(standin, registration)))
                location = response.headers.get("Location", "")
                return location if location.startswith(f"{standin.base_url}/c/pay/") else ""

            broke_at = time.monotonic()
            recovered = poll(press_pay, RECOVERY_LIMIT, 3)
            checkout_url = press_pay()  # the page keeps leading to the same checkout
            assert checkout_url
            assert pay(standin, checkout_url) == 303
            answer = deliver_event(drill.base_url, completed_for(standin, checkout_url))
            assert answer == 200
            registration.refresh_from_db()
            total_recovery = time.monotonic() - broke_at

    assert all(status in (302, 303) for status, _ in presses), presses  # no more error pages
    assert max(seconds for _, seconds in presses) < 15  # no press waits long for another
    assert most_open[0] == 1  # never two open sessions
    assert registration.state == Registration.State.CONFIRMED
    assert Payment.objects.filter(registration=registration, status="paid").count() == 1
    assert recovered < RECOVERY_LIMIT
    print(
        f"database drill: error page in {broken_seconds:.2f} s, {terminated[0]} connection(s) "
        f"terminated, paying again {recovered:.1f} s later after {len(presses)} presses, "
        f"confirmed {total_recovery:.1f} s after the error, "
        f"total {time.monotonic() - started:.1f} s"
    )
