"""Admin: "Confirm the class runs" and "Set the meeting link…" on the offering list, for one or
many classes; the link's update email goes to confirmed attendees only, and the dashboard's
go/no-go prompt."""

from datetime import timedelta

import pytest
from django.utils import timezone

from courses.models import Offering
from registrations import roles
from registrations.messaging import notices
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import make_offering, next_date, registration_in
from tests.registrations.helpers import open_offering

S = Registration.State
URL = "/admin/courses/offering/"


@pytest.fixture
def two_classes(course):
    first = open_offering(course)
    second = open_offering(course, next_date(7, 8) + timedelta(days=14))
    return first, second


@pytest.mark.django_db
def test_confirming_many_classes_runs_them(two_classes, admin_client, admin_user):
    page = admin_client.post(
        URL,
        {"action": "confirm_the_class_runs", "_selected_action": [o.pk for o in two_classes]},
        follow=True,
    )
    assert "Confirmed to run: 2 classes." in page.content.decode()
    for offering in two_classes:
        offering.refresh_from_db()
        assert offering.run_confirmed_by == admin_user and offering.run_confirmed_at
    page = admin_client.post(
        URL, {"action": "confirm_the_class_runs", "_selected_action": [two_classes[0].pk]},
        follow=True,
    )  # fmt: skip
    assert "Confirmed to run: 0 classes (1 already confirmed)." in page.content.decode()


@pytest.mark.django_db
def test_the_meeting_link_page_refuses_other_schemes_and_keeps_the_value(two_classes, admin_client):
    ids = [o.pk for o in two_classes]
    page = admin_client.post(URL, {"action": "set_the_meeting_link", "_selected_action": ids})
    html = page.content.decode()
    assert page.status_code == 200 and "Sets one meeting link on 2 classes" in html
    page = admin_client.post(
        URL, {"action": "set_the_meeting_link", "_selected_action": ids,
              "meeting_url": "ftp://files.example.org/x"},
    )  # fmt: skip
    html = page.content.decode()
    assert "Enter a web link starting with https:// or http://." in html
    assert 'value="ftp://files.example.org/x"' in html
    assert not Offering.objects.exclude(meeting_url="").exists()


@pytest.mark.django_db
def test_the_meeting_link_goes_to_many_classes_and_only_confirmed_attendees_are_told(
    two_classes, admin_client, django_capture_on_commit_callbacks
):
    first, second = two_classes
    confirmed = [registration_in(S.CONFIRMED, first), registration_in(S.CONFIRMED, second)]
    others = [registration_in(state, first) for state in (S.HELD, S.WAITLISTED, S.ELIGIBLE)]
    versions = {o.pk: o.schedule_version for o in two_classes}
    url = "https://meet.example.org/j/42"
    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post(
            URL, {"action": "set_the_meeting_link", "_selected_action": [first.pk, second.pk],
                  "meeting_url": url}, follow=True,
        )  # fmt: skip
    assert "Meeting link set on 2 classes; 2 update emails to confirmed attendees." in (
        page.content.decode()
    )
    for offering in two_classes:
        offering.refresh_from_db()
        assert offering.meeting_url == url
        assert offering.schedule_version == versions[offering.pk] + 1
    updates = OutboundEmail.objects.filter(kind=notices.Kind.UPDATE)
    assert sorted(u.registration_id for u in updates) == sorted(r.pk for r in confirmed)
    assert not updates.filter(registration__in=others).exists()
    # The same link again changes nothing and tells nobody.
    page = admin_client.post(
        URL, {"action": "set_the_meeting_link", "_selected_action": [first.pk],
              "meeting_url": url}, follow=True,
    )  # fmt: skip
    assert "Meeting link set on 0 classes; 0 update emails" in page.content.decode()
    assert updates.count() == 2


@pytest.mark.django_db
def test_the_dashboard_asks_to_confirm_or_cancel_near_the_go_no_go_date(course, staff, settings):
    settings.CLASS_MINIMUM_NOTICE_DAYS = 30
    trainer = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    today = timezone.localdate()
    due = make_offering(course, today + timedelta(days=22))  # go/no-go tomorrow
    later = make_offering(course, today + timedelta(days=40))
    plain = make_offering(course, today + timedelta(days=15))
    for offering in (due, later):
        offering.minimum_attendees = 4
        offering.save()
    registration_in(S.CONFIRMED, due)
    page = trainer.get("/admin/")
    board = page.context["dashboard"]
    assert [row["figures"].offering.pk for row in board["go_no_go"]] == [due.pk]
    html = page.content.decode()
    assert 'id="dashboard-go-no-go"' in html and "Confirm it runs" in html
    assert f"?id__exact={due.pk}" in html
    figures = board["figures"]
    row = board["go_no_go"][0]["figures"]
    assert (row.confirmed, row.minimum, row.days_to_decision) == (1, 4, 1)
    # Below the minimum: the class's own (1 < 4 confirmed), else the setting's seats (0 < 8).
    assert {c.offering.pk for c in figures.below_minimum} == {due.pk, plain.pk}
    # The button posts the action: the class is confirmed and leaves the prompt.
    trainer.post("/admin/courses/offering/",
                 {"action": "confirm_the_class_runs", "_selected_action": [due.pk]})  # fmt: skip
    due.refresh_from_db()
    assert due.run_confirmed_at is not None
    board = trainer.get("/admin/").context["dashboard"]
    assert board["go_no_go"] == []
    assert due.pk not in {c.offering.pk for c in board["figures"].below_minimum}
