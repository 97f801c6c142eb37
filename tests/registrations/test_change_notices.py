"""Staff change a class in the admin: times or meeting link → one update per confirmed attendee."""

from datetime import date, timedelta

import icalendar
import pytest
from django.utils import timezone

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import make_offering, registration_in


def change_form(offering, **changes) -> dict:
    """The offering admin's POST data for ``offering`` as stored, with ``changes``; session
    times shifted by ``changes["shift"]`` (a timedelta)."""
    shift = changes.pop("shift", timedelta(0))
    local = timezone.get_current_timezone()

    def split(prefix: str, value) -> dict:
        value = value.astimezone(local)
        return {f"{prefix}_0": f"{value:%Y-%m-%d}", f"{prefix}_1": f"{value:%H:%M:%S}"}

    data = {
        "course": offering.course_id,
        "status": offering.status,
        "part_of_day": offering.part_of_day,
        "capacity": offering.capacity,
        "time_zone": offering.time_zone,
        "meeting_url": offering.meeting_url,
        **split("registration_opens_at", offering.registration_opens_at),
        **split("registration_closes_at", offering.registration_closes_at),
        "sessions-TOTAL_FORMS": "2",
        "sessions-INITIAL_FORMS": "2",
        "sessions-MIN_NUM_FORMS": "1",
        "sessions-MAX_NUM_FORMS": "1000",
    }
    for index, session in enumerate(offering.session_list):
        data[f"sessions-{index}-id"] = session.pk
        data[f"sessions-{index}-offering"] = offering.pk
        data.update(split(f"sessions-{index}-starts_at", session.starts_at + shift))
        data.update(split(f"sessions-{index}-ends_at", session.ends_at + shift))
    data.update(changes)
    return data


@pytest.fixture
def offering(course):
    return make_offering(course, date(2027, 3, 18))


def post(admin_client, offering, **changes):
    url = f"/admin/courses/offering/{offering.pk}/change/"
    response = admin_client.post(url, change_form(offering, **changes))
    assert response.status_code == 302, response.context["adminform"].form.errors
    offering.refresh_from_db()
    return response


@pytest.mark.django_db
def test_admin_time_change_sends_one_update_per_confirmed_attendee(admin_client, offering):
    ana = registration_in(Registration.State.CONFIRMED, offering)
    registration_in(Registration.State.HELD, offering)
    page = admin_client.get(f"/admin/courses/offering/{offering.pk}/change/").content.decode()
    assert f"/admin/registrations/broadcast/add/?offering={offering.pk}" in page
    post(admin_client, offering)  # saved unchanged: nothing
    assert offering.schedule_version == 0
    assert not OutboundEmail.objects.filter(kind="update").exists()
    post(admin_client, offering, shift=timedelta(hours=1))
    assert offering.schedule_version == 1
    [update] = OutboundEmail.objects.filter(kind="update")
    assert (update.registration_id, update.dedupe_key) == (ana.pk, f"update:{ana.pk}:1")
    assert update.context["times_changed"] is True
    assert "10:00 am – 2:00 pm MDT" in update.context["sessions"][0]
    calendar = icalendar.Calendar.from_ical(update.attachments[0]["content"])
    assert {e["SEQUENCE"] for e in calendar.walk("VEVENT")} == {1}


@pytest.mark.django_db
def test_admin_meeting_link_set_sends_link_to_confirmed_only(admin_client, offering):
    ana = registration_in(Registration.State.CONFIRMED, offering)
    registration_in(Registration.State.WAITLISTED, offering)
    post(admin_client, offering, meeting_url="https://meet.example.org/cit-1")
    [update] = OutboundEmail.objects.filter(kind="update")
    assert update.registration_id == ana.pk
    assert update.context["meeting_url"] == "https://meet.example.org/cit-1"
    assert update.context["link_changed"] is True and update.context["times_changed"] is False
    calendar = icalendar.Calendar.from_ical(update.attachments[0]["content"])
    assert {str(e["LOCATION"]) for e in calendar.walk("VEVENT")} == {
        "https://meet.example.org/cit-1"
    }
    post(admin_client, offering, meeting_url="https://meet.example.org/cit-2")
    assert OutboundEmail.objects.filter(kind="update").count() == 2
    assert offering.schedule_version == 2
