"""Broadcast throughput with one Celery worker (solo pool) to a local SMTP server (aiosmtpd).

Usage (PostgreSQL and Redis as for the tests; the database is created, migrated and emptied)::

    .venv/bin/python bench/broadcast_throughput.py [--recipients 500] \\
        [--database postgres://postgres@127.0.0.1:5432/citreg_emails_bench] [--redis redis://127.0.0.1:6379/12]

It creates one class with N confirmed registrations, sends one broadcast with pacing switched off
(``BROADCAST_RATE_PER_MINUTE`` very high), and prints the messages per second from "send" until
the last row is ``sent``: the most a single worker can deliver, so a configured rate below it is
what the provider sees.
"""

import argparse
import os
import sys
import time
import uuid
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=500)
    parser.add_argument(
        "--database", default="postgres://postgres@127.0.0.1:5432/citreg_emails_bench"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="citreg.settings.test",
        DATABASE_URL=args.database,
        REDIS_URL=args.redis,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        BROADCAST_RATE_PER_MINUTE="1000000000",
    )
    _create_database(args.database)

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    call_command("loaddata", "default_course", verbosity=0)

    from courses.models import Course
    from registrations.messaging import broadcasts
    from registrations.models import Broadcast, Registration
    from tests.factories import make_offering
    from tests.services import ScriptedSMTPHandler, celery_worker, smtp_server, subprocess_env

    course = Course.objects.get(slug=Course.DEFAULT_SLUG)
    offering = make_offering(course, date(2027, 3, 18))
    now = timezone.now()
    Registration.objects.bulk_create(
        Registration(
            offering=offering,
            state=Registration.State.CONFIRMED,
            first_name=f"Attendee{n}",
            last_name="Bench",
            email=f"attendee{n}@example.org",
            role="call_taker",
            employer_name="Denver 911",
            employer_city="Denver",
            employer_state="CO",
            work_email=f"attendee{n}@denver911.gov",
            supervisor_name="Sam",
            supervisor_email="sam@denver911.gov",
            attested_at=now,
            participation_acknowledged_at=now,
            terms_accepted_at=now,
        )
        for n in range(args.recipients)
    )
    broadcast = Broadcast.objects.create(
        offering=offering,
        subject="Before class, {first_name}",
        body="Hello {first_name},\n\nPlease test your camera: {manage_url}\n",
    )
    handler = ScriptedSMTPHandler()
    with smtp_server(handler) as port:
        env = subprocess_env(
            CELERY_BROKER_URL=args.redis,
            CELERY_TASK_DEFAULT_QUEUE=queue,
            EMAIL_URL=f"smtp://127.0.0.1:{port}",
            BROADCAST_RATE_PER_MINUTE="1000000000",
        )
        with celery_worker(env, queue):
            started = time.monotonic()
            broadcasts.broadcast_send(broadcast, user=None)
            while broadcasts.progress(broadcast).running:
                time.sleep(0.05)
            elapsed = time.monotonic() - started
    result = broadcasts.progress(broadcast)
    print(
        f"{result.sent} sent, {result.failed} failed, {len(handler.messages)} received "
        f"in {elapsed:.2f} s: {result.sent / elapsed:.1f} messages/second "
        f"(one worker, solo pool, SMTP on loopback)"
    )


def _create_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    main()
