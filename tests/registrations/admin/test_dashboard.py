"""The admin's index as the training office's dashboard (``registrations.admin.dashboard``,
``registrations.reports.dashboard``): its numbers on a class with every state, each number's
link lands on a list showing that many rows, only training administrators get it, and its
query count does not grow with the number of classes."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courses.models import Offering
from registrations import roles
from registrations.models import Registration
from tests.factories import make_offering

from .conftest import under_review
from .every_state import every_state, failed_email, in_state

S = Registration.State
INDEX = "/admin/"


@pytest.fixture
def admin(staff):
    return staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])


def soon(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


@pytest.mark.django_db
def test_the_dashboard_counts_every_state_and_each_number_opens_its_list(course, admin):
    small, people, _ = every_state(course, soon(10), capacity=20)
    full = make_offering(course, soon(40), capacity=3)
    for _ in range(3):
        in_state(full, S.CONFIRMED)
    in_state(full, S.WAITLISTED)
    past = make_offering(course, soon(-30))
    in_state(past, S.CONFIRMED)
    make_offering(course, soon(50), status=Offering.Status.DRAFT)
    failed_email(people[S.CONFIRMED])

    page = admin.get(INDEX)
    assert page.status_code == 200
    board = page.context["dashboard"]
    figures = board["figures"]
    by_class = {row["figures"].offering.pk: row for row in board["classes"]}
    assert list(by_class) == [small.pk, full.pk]  # soonest first; no past or draft class
    mine = by_class[small.pk]["figures"]
    # Seats: confirmed, completed, processing and the live hold; not the lapsed hold.
    assert (mine.seats_taken, mine.holds, mine.waitlist, mine.capacity) == (4, 1, 2, 20)
    assert mine.days_to_start == 10
    other = by_class[full.pk]["figures"]
    assert (other.seats_taken, other.holds, other.waitlist, other.seats_left) == (3, 0, 1, 0)
    assert [c.offering.pk for c in figures.below_minimum] == [small.pk]  # 4 < 8, in 10 days
    assert [c.offering.pk for c in figures.nearly_full] == [full.pk]
    assert figures.awaiting_review_count == 1
    assert [w.registration.pk for w in figures.awaiting_review] == [people[S.PENDING_REVIEW].pk]
    assert figures.attention_count == 1 and figures.attention[0].pk == people[S.PROCESSING].pk
    assert figures.failed_email_count == 1

    html = page.content.decode()
    assert "Disputed payment: $250.00." in html
    assert "550 mailbox unavailable" in html
    # Every number links to a list that shows exactly that many rows.
    review = admin.get(board["review_url"])
    assert review.context["cl"].result_count == 1
    attention = admin.get(board["attention_url"])
    assert [r.pk for r in attention.context["cl"].result_list] == [people[S.PROCESSING].pk]
    failed = admin.get(board["failed_url"])
    assert failed.context["cl"].result_count == 1
    row = by_class[small.pk]
    for url, expected in [(row["taken"], 4), (row["held"], 1), (row["waitlisted"], 2)]:
        assert f'href="{url.replace("&", "&amp;")}"' in html
        assert len(admin.get(url).context["rows"]) == expected, url
    taken = {r.pk for r, _ in admin.get(row["taken"]).context["rows"]}
    seat_states = {S.CONFIRMED, S.COMPLETED, S.PROCESSING, S.HELD}
    assert taken == {people[state].pk for state in seat_states}


@pytest.mark.django_db
def test_the_review_list_is_oldest_first_with_the_time_waited(course, admin):
    offering = make_offering(course, soon(30))
    start = timezone.now() - timedelta(days=3)
    with time_machine.travel(start, tick=False):
        older = under_review(offering, first_name="Older")
    with time_machine.travel(start + timedelta(days=2, hours=1), tick=False):
        newer = under_review(offering, first_name="Newer")
    board = admin.get(INDEX).context["dashboard"]
    assert [r["waiting"].registration.pk for r in board["review"]] == [older.pk, newer.pk]
    assert board["review"][0]["waited"] == "3 days"
    assert board["review"][1]["waited"] == "23 h"
    assert board["review"][0]["url"].endswith(f"/registrationunderreview/{older.pk}/change/")


@pytest.mark.django_db
def test_only_training_administrators_get_the_dashboard(course, staff):
    every_state(course, soon(10))
    for client in [
        staff("finance", groups=[roles.FINANCE]),
        staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER]),
    ]:
        page = client.get(INDEX)
        assert page.status_code == 200
        assert "dashboard" not in page.context
        assert 'id="dashboard"' not in page.content.decode()


def many_classes(course, count: int, first: int = 0) -> None:
    """``count`` upcoming classes, each with a confirmed attendee, a hold, a waitlisted one,
    one under review and one flagged; a failed email for each."""
    for number in range(first, first + count):
        offering = make_offering(course, soon(5 + 2 * number), evening=number % 2 == 1)
        confirmed = in_state(offering, S.CONFIRMED)
        in_state(offering, S.WAITLISTED)
        held = in_state(offering, S.HELD)
        Registration.objects.filter(pk=held.pk).update(
            hold_expires_at=timezone.now() + timedelta(minutes=20)
        )
        under_review(offering)
        Registration.objects.filter(pk=confirmed.pk).update(needs_attention=True)
        failed_email(confirmed)


def index_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(INDEX)
    assert page.status_code == 200 and "dashboard" in page.context
    return len(queries)


@pytest.mark.django_db
def test_the_query_count_is_the_same_for_5_and_50_classes(course, admin):
    many_classes(course, 5)
    at_five = index_queries(admin)
    assert len(admin.get(INDEX).context["dashboard"]["classes"]) == 5
    many_classes(course, 45, first=5)
    at_fifty = index_queries(admin)
    board = admin.get(INDEX).context["dashboard"]
    assert len(board["classes"]) == 50
    assert board["figures"].awaiting_review_count == 50
    assert at_fifty == at_five
