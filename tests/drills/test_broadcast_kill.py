"""Drill: the worker is killed (SIGKILL) in the middle of a 300-recipient broadcast.

Staff send the broadcast through the admin of a real web server; a prefork worker (concurrency
``WORKER_CONCURRENCY``, acks late, prefetch multiplier 1) sends it to the drill's SMTP sink, and
the sink kills the worker's whole process group right after it has stored the 100th message and
before it answers: that message is delivered but its row stays ``sending``, the worst moment. A
new worker is started. Recovery is the production mechanism with short durations: the Redis
transport delivers again what the dead worker had taken (``visibility_timeout``), the broadcast's
pump publishes again rows it had published, and the outbox sweeper (beat) takes over rows left
``sending`` past ``EMAIL_SENDING_TIMEOUT_SECONDS``.

Expected: every recipient gets the message; duplicates are at most the messages that were being
sent at the kill (rows ``sending`` just after it), which are at most the worker's concurrency.
Messages the worker had only prefetched (at most concurrency × prefetch multiplier) are delivered
again but go out once: their row decides. So duplicates ≤ concurrency ≤ concurrency + prefetch.
"""

import threading
import time

import pytest
import redis

from registrations.messaging import broadcasts
from registrations.messaging.models import OutboundEmail
from registrations.models import Broadcast, Registration
from tests.drills.harness import WORKER_CONCURRENCY, drill_services, poll, staff_browser
from tests.factories import make_offering, next_date, registration_in

RECIPIENTS = 300
KILL_AT = 100  # the sink kills the worker when it has stored this many messages
SUBJECT = "Camera check before class"

pytestmark = [pytest.mark.drill, pytest.mark.django_db(transaction=True)]


def test_worker_killed_mid_broadcast_every_recipient_gets_it(course, tmp_path):
    started = time.monotonic()
    offering = make_offering(course, next_date(7, 8), capacity=RECIPIENTS)
    people = [registration_in(Registration.State.CONFIRMED, offering) for _ in range(RECIPIENTS)]
    addresses = {person.email.lower() for person in people}

    with drill_services("broadcast-kill", BROADCAST_RATE_PER_MINUTE="3000") as drill:
        first = drill.worker()
        drill.beat(tmp_path)
        drill.web()
        killed = threading.Event()
        victim: list[str] = []

        def kill_worker(count: int, recipient: str) -> None:
            if count == KILL_AT and not killed.is_set():
                first.kill9()
                victim.append(recipient)
                killed.set()

        drill.sink.on_message = kill_worker
        browser = staff_browser(drill.base_url)
        assert browser.get("/admin/registrations/broadcast/add/").status_code == 200
        added = browser.post(
            "/admin/registrations/broadcast/add/",
            data={
                "offering": offering.pk,
                "audience": "confirmed",
                "subject": SUBJECT,
                "body": "Hello {first_name},\n\nPlease test your camera. {manage_url}",
            },
        )
        assert added.status_code == 302, added.text[:2000]
        broadcast = Broadcast.objects.get()
        sent = browser.post(f"/admin/registrations/broadcast/{broadcast.pk}/send/")
        assert sent.status_code == 302
        assert killed.wait(timeout=120), "the sink never received the 100th message"

        # What the dead worker was sending: its rows stay ``sending`` (nobody else claims them
        # before EMAIL_SENDING_TIMEOUT_SECONDS).
        in_flight = set(
            broadcasts.batch_emails(broadcast)
            .filter(status=OutboundEmail.Status.SENDING)
            .values_list("to_email", flat=True)
        )
        assert victim[0] in in_flight
        assert 1 <= len(in_flight) <= WORKER_CONCURRENCY

        drill.worker()
        recovered = poll(lambda: broadcasts.progress(broadcast).sent == RECIPIENTS, 240, 1)
        # Nothing is left to deliver (no message queued, none taken and unacknowledged), so
        # the counts below are final.
        broker = redis.Redis.from_url(drill.redis.url)
        poll(lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0, 60, 0.5)
        counts = drill.sink.count_by_recipient(SUBJECT)

    progress = broadcasts.progress(broadcast)
    assert (progress.total, progress.sent, progress.failed, progress.skipped) == (300, 300, 0, 0)
    assert set(counts) == addresses  # every recipient, nobody else
    duplicates = {address: n - 1 for address, n in counts.items() if n > 1}
    assert set(duplicates) <= in_flight  # only messages being sent at the kill went out twice
    assert sum(duplicates.values()) <= len(in_flight) <= WORKER_CONCURRENCY
    assert counts[victim[0]] == 2  # delivered before the kill and again by the new worker
    print(
        f"broadcast drill: {RECIPIENTS} recipients, in flight at the kill {len(in_flight)}, "
        f"duplicates {sum(duplicates.values())}, recovered in {recovered:.1f} s, "
        f"total {time.monotonic() - started:.1f} s"
    )
