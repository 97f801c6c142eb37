"""The public catalogue pages and the calendar download."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from icalendar import Calendar

from courses.models import Offering
from tests.factories import make_offering

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.fixture
def imported(schedule_2024, schedule_2027):
    with time_machine.travel(NOW, tick=False):
        call_command("import_schedule", str(schedule_2024), verbosity=0)
        call_command("import_schedule", str(schedule_2027), verbosity=0)


@time_machine.travel(NOW, tick=False)
def test_course_page_lists_2027_open_and_2024_past(client, imported):
    response = client.get("/courses/cit-support-training-911/")
    assert response.status_code == 200
    html = response.content.decode()
    upcoming = response.context["upcoming"]
    past = response.context["past"]
    assert len(upcoming) == 22 and len(past) == 15
    assert all(o.registration_state(NOW) == "open" for o in upcoming)
    assert "January 2027" in html and "December 2027" in html
    assert "January 7\u20138, 2027" in html
    assert "4:00 pm \u2013 8:00 pm MST" in html  # January: standard time
    assert "9:00 am \u2013 1:00 pm MDT" in html  # summer: daylight time
    assert "September 30 \u2013 October 1, 2027" in html
    assert 'data-start="2027-01-07T23:00:00Z"' in html
    assert "Past classes" in html and "December 12\u201313, 2024" in html
    assert "$250</strong> per attendee" in html
    assert "camera and microphone" in html
    # The facts come before the class list; the past classes fold into one line.
    assert html.index('id="facts"') < html.index('id="upcoming-heading"')
    assert '<details class="past-classes' in html and "Past classes (15)" in html
    # The jump to the next open class of each part of day.
    first_day = next(o for o in upcoming if o.part_of_day == "day")
    first_evening = next(o for o in upcoming if o.part_of_day == "evening")
    assert [(part, o.pk) for part, _, o in response.context["next_open"]] == [
        ("day", first_day.pk),
        ("evening", first_evening.pk),
    ]
    assert f'href="#offering-{first_day.pk}"' in html
    assert "Next open evening class: January 7\u20138, 2027" in html
    assert "Open for registration" in html
    assert "Test mode" in html  # no Stripe key configured


@time_machine.travel(NOW, tick=False)
def test_cancelled_closed_and_draft_offerings(client, course):
    cancelled = make_offering(course, date(2027, 2, 4), status=Offering.Status.CANCELLED)
    draft = make_offering(course, date(2027, 2, 11), status=Offering.Status.DRAFT)
    closing = make_offering(  # closes 24 h before its first session: already closed
        course,
        date(2026, 11, 29),
        evening=True,
        registration_opens_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    html = client.get(course.get_absolute_url()).content.decode()
    assert 'data-state="cancelled"' in html and "Cancelled" in html
    assert f'id="offering-{closing.pk}" data-state="closed"' in html
    assert f'id="offering-{draft.pk}"' not in html
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert client.get(cancelled.get_absolute_url()).status_code == 200


def _course_page_queries(client, course) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(course.get_absolute_url()).status_code == 200
    return len(queries)


@time_machine.travel(NOW, tick=False)
def test_course_page_query_count_is_flat(client, course):
    first = date(2027, 1, 7)
    for week in range(5):
        make_offering(course, date.fromordinal(first.toordinal() + 7 * week))
    five = _course_page_queries(client, course)
    for week in range(5, 50):
        make_offering(course, date.fromordinal(first.toordinal() + 7 * week))
    fifty = _course_page_queries(client, course)
    assert five == fifty
    assert fifty <= 6


@time_machine.travel(NOW, tick=False)
def test_offering_page_and_ics(client, imported):
    offering = Offering.objects.get(starts_on=date(2027, 3, 4))
    html = client.get(offering.get_absolute_url()).content.decode()
    assert "Thursday, March 4, 2027" in html and "Friday, March 5, 2027" in html
    assert "4:00 pm \u2013 8:00 pm MST" in html
    response = client.get(f"{offering.get_absolute_url()}calendar.ics")
    assert response["Content-Type"].startswith("text/calendar")
    assert "cit-support-training-911-2027-03-04-evening.ics" in response["Content-Disposition"]
    calendar = Calendar.from_ical(response.content)
    assert calendar["METHOD"] == "PUBLISH"
    events = calendar.walk("VEVENT")
    assert [(e.start, e.end) for e in events] == [
        (datetime(2027, 3, 4, 23, tzinfo=UTC), datetime(2027, 3, 5, 3, tzinfo=UTC)),
        (datetime(2027, 3, 5, 23, tzinfo=UTC), datetime(2027, 3, 6, 3, tzinfo=UTC)),
    ]
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == 2 and all(u.startswith("session-") for u in uids)
    assert "session 1 of 2" in str(events[0]["SUMMARY"])


def test_unknown_pages_use_the_custom_404(client, course):
    response = client.get("/courses/no-such-course/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert client.get(f"{course.get_absolute_url()}classes/999999/").status_code == 404
