"""Drill: the Redis server (cache and Celery broker of the web, the worker and beat) stops for
20 seconds while 20 people register through the web, and starts again empty (it keeps nothing on
disk, so every message it held is lost).

Five register while Redis is up and get their work-email link; Redis stops; ten more register
and the first five open their links and confirm (each confirmation queues an "eligible"
message); Redis starts again; the last five register. The web keeps serving throughout: the cache
fails open (the rate limits are on and count in it, as in production), and a send task that
cannot be published leaves its row queued for the outbox sweeper (beat), which publishes it once
the broker is back.

Expected: every page answers 200 or a redirect (no 500) during the outage, no registration is
lost, and every message is delivered exactly once (counted at the SMTP sink by recipient).
"""

import re
import time

import pytest
import redis

from registrations.messaging.models import OutboundEmail
from registrations.models import AgencyDomain, Registration
from tests.drills.harness import Browser, drill_services, poll
from tests.registrations.helpers import form_data, open_offering, register_url

PEOPLE = 20
BEFORE, DURING = 5, 10  # registrations before the outage, during it; the rest after
OUTAGE_SECONDS = 20  # at least: long enough for the worker and beat to lose the broker
DOMAIN = "denver911.example.gov"
CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/r/confirm/[^\s/]+/)")

pytestmark = [pytest.mark.drill, pytest.mark.django_db(transaction=True)]


def course_email(n: int) -> str:
    return f"drill.person{n}@{DOMAIN}"


def work_email(n: int) -> str:
    return f"drill.person{n}.work@{DOMAIN}"


def test_registrations_and_emails_survive_a_broker_outage(course, tmp_path):
    started = time.monotonic()
    AgencyDomain.objects.create(domain=DOMAIN, agency_name="Denver 911")
    offering = open_offering(course)
    statuses: list[tuple[str, int, float]] = []  # (what, HTTP status, seconds) during the outage

    with drill_services("redis-outage") as drill:
        drill.worker()
        drill.beat(tmp_path)
        drill.web()
        browsers = [Browser(drill.base_url) for _ in range(PEOPLE)]

        def timed(what: str, call):
            began = time.monotonic()
            response = call()
            statuses.append((what, response.status_code, time.monotonic() - began))
            return response

        def register(n: int) -> None:
            browser = browsers[n]
            page = timed("register form", lambda: browser.get(register_url(offering)))
            assert page.status_code == 200
            data = form_data(email=course_email(n), work_email=work_email(n))
            sent = timed("register", lambda: browser.post(register_url(offering), data=data))
            assert sent.status_code == 302 and sent.headers["Location"].endswith("/registered/")
            assert timed("registered", lambda: browser.get("/registered/")).status_code == 200

        def confirm(n: int) -> None:
            browser = browsers[n]
            [message] = drill.sink.messages_to(work_email(n))
            body = message.get_body(("plain",))
            found = CONFIRM_LINK.search(body.get_content() if body is not None else "")
            assert found, f"no confirmation link in the message to {work_email(n)}"
            link = found.group(1)
            opened = timed("confirm link", lambda: browser.get(link))
            assert opened.status_code == 303
            page = opened.headers["Location"]
            assert timed("confirm page", lambda: browser.get(page)).status_code == 200
            done = timed("confirm", lambda: browser.post(page))
            assert done.status_code == 302
            manage = done.headers["Location"]
            assert timed("manage page", lambda: browser.get(manage)).status_code == 200

        for n in range(BEFORE):
            register(n)
        poll(lambda: all(drill.sink.messages_to(work_email(n)) for n in range(BEFORE)), 60)

        drill.redis.stop()
        statuses.clear()  # from here on, during the outage
        outage = time.monotonic()
        for n in range(BEFORE, BEFORE + DURING):
            register(n)
            if n - BEFORE < BEFORE:
                confirm(n - BEFORE)
            time.sleep(
                max(outage + OUTAGE_SECONDS * (n - BEFORE + 1) / DURING - time.monotonic(), 0)
            )
        for path in ("/", f"/courses/{course.slug}/", offering.get_absolute_url()):
            assert timed(path, lambda path=path: browsers[0].get(path)).status_code == 200
        during = list(statuses)
        assert OutboundEmail.objects.filter(status=OutboundEmail.Status.QUEUED).count() == (
            DURING + BEFORE
        )  # nothing could be published: all wait for the sweeper
        drill.redis.start()
        outage = time.monotonic() - outage

        for n in range(BEFORE + DURING, PEOPLE):
            register(n)
        expected = {work_email(n) for n in range(PEOPLE)} | {course_email(n) for n in range(BEFORE)}
        recovered = poll(lambda: set(drill.sink.count_by_recipient()) >= expected, 180, 1)
        broker = redis.Redis.from_url(drill.redis.url)
        poll(lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0, 60)
        poll(lambda: not OutboundEmail.objects.exclude(status="sent").exists(), 60)
        counts = drill.sink.count_by_recipient()

    assert [s for s in during if s[1] >= 400] == []  # pages up: 200 or a redirect, never 500
    assert set(Registration.objects.values_list("email", flat=True)) == {
        course_email(n) for n in range(PEOPLE)
    }
    assert Registration.objects.filter(state=Registration.State.ELIGIBLE).count() == BEFORE
    assert counts == dict.fromkeys(expected, 1)  # every message once, and nothing else
    assert OutboundEmail.objects.filter(status="sent").count() == len(expected)
    slowest = max(seconds for _, _, seconds in during)
    print(
        f"redis drill: {len(during)} requests during a {outage:.1f} s outage (slowest "
        f"{slowest:.2f} s), {len(expected)} messages delivered once, recovered "
        f"{recovered:.1f} s after the last registration, total {time.monotonic() - started:.1f} s"
    )
