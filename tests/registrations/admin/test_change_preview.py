"""Changing a class in the admin: saving new times or a new meeting link shows the update email
(old and new times, Mountain Time and the attendee's zone) and how many attendees get it, and
sends nothing; confirming saves and sends one update each, stating the old and new times. The
schedule import (no one to confirm) tells attendees at once, old times included."""

from datetime import date, timedelta

import pytest

from courses.models import Offering
from courses.scheduling import offering_reschedule
from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import render_email
from registrations.models import Registration
from tests.factories import make_offering, two_day_times
from tests.registrations.helpers import CONFIRM, change_form

from .conftest import under_review

pytestmark = pytest.mark.django_db
S = Registration.State


@pytest.fixture
def offering(course) -> Offering:
    return make_offering(course, date(2027, 3, 18))  # 9:00 am – 1:00 pm MDT


def confirmed(offering, **fields) -> Registration:
    registration = under_review(offering, **fields)
    Registration.objects.filter(pk=registration.pk).update(state=S.CONFIRMED)
    return Registration.objects.get(pk=registration.pk)


def url(offering) -> str:
    return f"/admin/courses/offering/{offering.pk}/change/"


def test_the_preview_shows_the_email_and_the_count_and_sends_nothing(admin_client, offering):
    confirmed(offering)
    confirmed(offering, time_zone="America/New_York")
    under_review(offering)  # not confirmed: not told
    before = [(s.starts_at, s.ends_at) for s in offering.session_list]
    response = admin_client.post(url(offering), change_form(offering, shift=timedelta(hours=1)))
    assert response.status_code == 200
    assert "admin/courses/offering_change_preview.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "Nothing has been saved or sent yet." in html
    assert "2 confirmed attendees get" in html and "Save and send 2 updates" in html
    assert "9:00 am – 1:00 pm MDT" in html and "10:00 am – 2:00 pm MDT" in html
    # The sample is the attendee in another zone: both zones, old and new.
    assert "Before (no longer valid):" in html
    assert "11:00 am – 3:00 pm EDT" in html and "12:00 pm – 4:00 pm EDT" in html
    assert not OutboundEmail.objects.filter(kind="update").exists()
    offering.refresh_from_db()
    assert offering.schedule_version == 0
    assert [(s.starts_at, s.ends_at) for s in offering.session_list] == before
    # The confirm button posts the same form again, with the confirmation.
    assert 'name="_confirm_update" value="1"' in html
    assert 'name="sessions-0-start" value="10:00:00"' in html


def test_confirming_saves_and_sends_one_update_each_with_old_and_new_times(
    admin_client, offering, django_capture_on_commit_callbacks
):
    ana = confirmed(offering)
    ben = confirmed(offering, time_zone="America/New_York")
    data = {**change_form(offering, shift=timedelta(hours=1)), **CONFIRM}
    response = admin_client.post(url(offering), data)
    assert response.status_code == 302
    offering.refresh_from_db()
    assert offering.schedule_version == 1
    updates = OutboundEmail.objects.filter(kind="update").order_by("registration_id")
    assert [u.registration_id for u in updates] == [ana.pk, ben.pk]
    _, text, html = render_email(updates[1])
    old, _, new = text.partition("Now:")
    assert "9:00 am – 1:00 pm MDT" in old and "11:00 am – 3:00 pm EDT" in old
    assert "10:00 am – 2:00 pm MDT" in new and "12:00 pm – 4:00 pm EDT" in new
    assert "<del>" in html


def test_a_new_meeting_link_is_previewed_too(admin_client, offering):
    confirmed(offering)
    link = "https://meet.example.org/cit-1"
    response = admin_client.post(url(offering), change_form(offering, meeting_url=link))
    assert response.status_code == 200 and "1 confirmed attendee gets" in response.content.decode()
    assert not OutboundEmail.objects.exists()
    admin_client.post(url(offering), {**change_form(offering, meeting_url=link), **CONFIRM})
    [update] = OutboundEmail.objects.filter(kind="update")
    assert update.context["link_changed"] and update.context["previous_sessions"] == []


def test_without_confirmed_attendees_a_change_is_saved_at_once(admin_client, offering):
    under_review(offering)
    response = admin_client.post(url(offering), change_form(offering, shift=timedelta(hours=1)))
    assert response.status_code == 302
    offering.refresh_from_db()
    assert offering.schedule_version == 1
    assert not OutboundEmail.objects.filter(kind="update").exists()


def test_other_edits_are_saved_without_a_preview(admin_client, offering):
    confirmed(offering)
    response = admin_client.post(url(offering), change_form(offering, capacity=30))
    assert response.status_code == 302
    assert Offering.objects.get(pk=offering.pk).capacity == 30


def test_the_schedule_import_tells_attendees_at_once_with_the_old_times(offering):
    ana = confirmed(offering)
    offering_reschedule(offering=offering, times=two_day_times(date(2027, 3, 25)))
    [update] = OutboundEmail.objects.filter(kind="update", registration=ana)
    assert "Thursday, March 18, 2027" in update.context["previous_sessions"][0]
    assert "Thursday, March 25, 2027" in update.context["sessions"][0]
