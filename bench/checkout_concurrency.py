"""Many call-takers pressing "Pay" for the last seats at once, on PostgreSQL, against the local
Stripe stand-in: how many holds are made (must equal the free seats) and how long attempts take.

Usage::

    .venv/bin/python bench/checkout_concurrency.py [--attempts 40] [--seats 3] [--rounds 3]

Each attempt is a thread with its own database connection calling
``registrations.payments.checkout.checkout_start`` (lock the offering row, hold, create the Checkout
Session at the stand-in). Prints, per round, holds made, refusals ("full"), wall time, and the
median and 95th-percentile latency of one attempt.
"""

import argparse
import statistics
import threading
import time

from _setup import django_with_fresh_database


def run_round(people, checkout, booking, connection) -> tuple[list[tuple[str, float]], float]:
    """Start one thread per registration at the same moment; return (outcome, seconds) per
    attempt and the wall time in seconds."""
    barrier = threading.Barrier(len(people))
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()

    def attempt(registration) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            checkout.checkout_start(registration)
            outcome = "held"
        except booking.OfferingFull:
            outcome = "full"
        finally:
            connection.close()
        with lock:
            outcomes.append((outcome, time.perf_counter() - started))

    threads = [threading.Thread(target=attempt, args=(p,)) for p in people]
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=40)
    parser.add_argument("--seats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    django_with_fresh_database()

    from django.conf import settings
    from django.db import connection

    from courses.models import Course
    from devtools.stripe_standin import Config, StandinServer
    from registrations.payments import checkout
    from registrations.seats import booking, queries
    from tests.factories import make_offering, next_date
    from tests.registrations.stripe_helpers import eligible

    server = StandinServer(Config(port=0, secret_key="sk_test_bench", webhook_url=""))
    server.start()
    settings.STRIPE_SECRET_KEY = "sk_test_bench"
    settings.STRIPE_API_BASE = server.base_url
    from citreg.celery_app import app

    app.conf.task_always_eager = True  # notices are sent inline to the test mail backend
    course = Course.objects.get()
    print(f"{args.attempts} concurrent checkouts for {args.seats} free seats, PostgreSQL")
    try:
        for round_number in range(1, args.rounds + 1):
            offering = make_offering(course, next_date(7, 1 + round_number * 7),
                                     capacity=args.seats)  # fmt: skip
            people = [eligible(offering, email=f"r{round_number}p{i}@psap.example.gov")
                      for i in range(args.attempts)]  # fmt: skip
            outcomes, wall = run_round(people, checkout, booking, connection)
            latencies = sorted(seconds for _, seconds in outcomes)
            held = sum(1 for outcome, _ in outcomes if outcome == "held")
            print(
                f"round {round_number}: held {held} (seats {args.seats}), "
                f"full {len(outcomes) - held}, seats taken {queries.seats_taken(offering)}; "
                f"wall {wall * 1000:.0f} ms, attempt p50 "
                f"{statistics.median(latencies) * 1000:.0f} ms, p95 "
                f"{latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f} ms"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
