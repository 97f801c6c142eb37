"""Drill: a storm of 500 signed Stripe webhook deliveries for 100 registrations of a nearly full
class, with duplicates, any order and late payments, posted concurrently to a real web server.

The class has 40 seats, 25 already confirmed. A hundred eligible people start checkout at the
Stripe stand-in in waves of 15 (the free seats): the holds of the first six waves lapse (beat's
release, as 36 minutes later) while their sessions stay open at Stripe, the last ten people hold
seats now. Then all hundred pay: most by card, twenty with a delayed method (sixteen succeed,
four fail). The stand-in's events (completion, delayed success or failure) are delivered 500
times in a shuffled order with duplicates by eight threads, each answered 503 retried as
Stripe retries; then the refunds that the web and the worker made produce their own events,
delivered the same way.

Expected: at no moment more seats taken than the class has; every paid checkout ends confirmed
or refunded in full at Stripe (never both, never neither); every confirmed registration got
exactly one confirmation email and nobody else got one; no delivery was answered 500.
"""

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import Payment, Refund, WebhookEvent
from registrations.seats import booking, queries
from tests.drills.harness import deliver_event, drill_services, poll
from tests.factories import make_offering, next_date, registration_in
from tests.registrations.stripe_helpers import KEY, WHSEC, eligible, events, pay, running_standin

CAPACITY, ALREADY_CONFIRMED = 40, 25
PEOPLE = 100
WAVE = CAPACITY - ALREADY_CONFIRMED  # everyone free seats allow to hold at once
LAPSED_WAVES = 6  # 90 people whose holds lapse before they pay; the last 10 still hold
DELAYED, DELAYED_FAILING = 20, 4
DELIVERIES = 500
THREADS = 8
SEED = 13

pytestmark = [pytest.mark.drill, pytest.mark.django_db(transaction=True)]

S = Registration.State


class Storm:
    """Posts signed events to the web from a pool of threads, answering 503 with a retry (as
    Stripe does, only sooner); records every status."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()

    def deliver(self, event: dict) -> int:
        for attempt in range(40):
            status = deliver_event(self.base_url, event)
            with self.lock:
                self.statuses[status] += 1
            if status != 503:
                return status
            time.sleep(min(0.2 * 2**attempt, 2))
        return status

    def run(self, deliveries: list[dict]) -> list[int]:
        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(self.deliver, deliveries))


def storm_of(distinct: list[dict], total: int, rng: random.Random) -> list[dict]:
    """Every event at least once, then duplicates up to ``total``, shuffled."""
    deliveries = distinct + rng.choices(distinct, k=max(total - len(distinct), 0))
    rng.shuffle(deliveries)
    return deliveries


def test_webhook_storm_keeps_seats_money_and_emails_right(course, settings):
    started = time.monotonic()
    rng = random.Random(SEED)
    offering = make_offering(course, next_date(7, 8), capacity=CAPACITY)
    for _ in range(ALREADY_CONFIRMED):
        registration_in(S.CONFIRMED, offering)

    with running_standin(settings) as standin:
        people = [
            eligible(offering, email=f"storm{n}@denver911.example.gov") for n in range(PEOPLE)
        ]
        urls: dict[int, str] = {}
        lapse = timezone.now() + timedelta(minutes=settings.SEAT_HOLD_MINUTES + 1)
        for wave in range(LAPSED_WAVES + 1):
            for person in people[wave * WAVE : (wave + 1) * WAVE]:
                urls[person.pk] = checkout.checkout_start(person)
            if wave < LAPSED_WAVES:
                booking.release_expired_holds(now=lapse)  # beat, once the holds ran out
        assert len(urls) == PEOPLE
        assert Registration.objects.filter(offering=offering, state=S.HELD).count() == 10
        assert Registration.objects.filter(offering=offering, state=S.EXPIRED).count() == 90

        delayed = set(rng.sample(sorted(urls), DELAYED))
        failing = set(rng.sample(sorted(delayed), DELAYED_FAILING))
        for pk, url in urls.items():
            if pk in delayed:
                outcome = "failed" if pk in failing else "succeeded"
                assert pay(standin, url, "delayed", delayed_outcome=outcome) == 303
            else:
                assert pay(standin, url) == 303
        poll(lambda: len(events(standin, "checkout.session.completed")) == PEOPLE, 30)
        poll(lambda: len(events(standin)) == PEOPLE + DELAYED, 30)  # the delayed outcomes too
        first = events(standin)

        with drill_services(
            "webhook-storm",
            STRIPE_SECRET_KEY=KEY,
            STRIPE_WEBHOOK_SECRET=WHSEC,
            STRIPE_API_BASE=standin.base_url,
        ) as drill:
            drill.worker()
            drill.web(workers=3, threads=2)
            storm = Storm(drill.base_url)
            taken: list[int] = []
            done = threading.Event()

            def watch_seats() -> None:
                try:
                    while not done.is_set():
                        taken.append(queries.seats_taken(offering))
                        time.sleep(0.05)
                finally:
                    connection.close()

            watcher = threading.Thread(target=watch_seats, daemon=True)
            watcher.start()
            storm_began = time.monotonic()
            answers = storm.run(storm_of(first, DELIVERIES, rng))
            storm_seconds = time.monotonic() - storm_began

            # The automatic refunds are issued by the web (money with no seat) and the worker;
            # Stripe then tells of each refund: those events come through the storm too.
            refunds = Refund.objects.filter(payment__registration__offering=offering)
            poll(lambda: refunds.exists() and not refunds.exclude(status="succeeded").exists(), 120)
            delivered = {event["id"] for event in first}
            later = [event for event in events(standin) if event["id"] not in delivered]
            answers += storm.run(storm_of(later, 2 * len(later), rng))
            done.set()
            watcher.join(timeout=10)

            confirmed = set(
                Registration.objects.filter(pk__in=urls, state=S.CONFIRMED).values_list(
                    "email", flat=True
                )
            )
            poll(
                lambda: (
                    set(drill.sink.count_by_recipient("Confirmed:")) >= confirmed
                    and not OutboundEmail.objects.exclude(status="sent").exists()
                ),
                120,
            )
            confirmations = drill.sink.count_by_recipient("Confirmed:")

        stripe_sessions = {s["id"]: s for s in standin.store.sessions.values()}
        stripe_charges = {c["payment_intent"]: c for c in standin.store.charges.values()}

    assert 500 not in storm.statuses and set(answers) == {200}, storm.statuses
    assert taken and max(taken) <= CAPACITY
    assert queries.seats_taken(offering) <= CAPACITY
    assert WebhookEvent.objects.count() == len(delivered) + len(later)
    assert not WebhookEvent.objects.exclude(outcome__in=("processed", "ignored")).exists()

    outcomes: Counter[str] = Counter()
    for person in people:
        [payment] = Payment.objects.filter(registration=person)
        person.refresh_from_db()
        session = stripe_sessions[payment.stripe_checkout_session_id]
        charge = stripe_charges[session["payment_intent"]]
        refunded = list(payment.refunds.values_list("status", "amount_cents"))
        if session["payment_status"] != "paid":  # a delayed payment that failed
            assert person.pk in failing
            assert payment.status == Payment.Status.FAILED and refunded == []
            assert person.state != S.CONFIRMED and charge["amount_refunded"] == 0
            outcomes["failed"] += 1
        elif person.state == S.CONFIRMED:
            assert payment.status == Payment.Status.PAID and refunded == []
            assert charge["amount_refunded"] == 0
            outcomes["confirmed"] += 1
        else:  # paid, no seat: refunded in full, at Stripe too
            assert payment.status == Payment.Status.PAID
            assert refunded == [("succeeded", payment.amount_cents)]
            assert charge["amount_refunded"] == charge["amount"] == payment.amount_cents
            outcomes["refunded"] += 1
    assert outcomes["failed"] == DELAYED_FAILING
    assert outcomes["confirmed"] + ALREADY_CONFIRMED <= CAPACITY
    assert confirmations == dict.fromkeys(confirmed, 1)  # one each, and nobody else
    print(
        f"webhook storm: {len(answers)} deliveries ({dict(storm.statuses)}) in "
        f"{storm_seconds:.1f} s for the first {DELIVERIES}; {dict(outcomes)}; seats taken at most "
        f"{max(taken)} of {CAPACITY}; total {time.monotonic() - started:.1f} s"
    )
