"""``courses.calendar``: typed text cannot break a calendar file (``tests/hostile`` checks every
file with every typed field; these are its regressions)."""

from datetime import date

import pytest
from icalendar import Calendar

from courses.calendar import common_name, offering_calendar, offering_invitation
from tests.factories import make_offering

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course):
    offering = make_offering(course, date(2027, 3, 18))
    course.title = "CIT\r\nEND:VEVENT\x1b[31m"
    course.participation_requirements = "Camera on.\r\nBEGIN:VEVENT\x07"
    course.save()
    offering.meeting_url = "https://meet.example.org/x\r\nLOCATION:evil"
    return offering


def _events(data: bytes) -> list:
    assert not any(b < 0x20 and b not in (0x09, 0x0A, 0x0D) for b in data)
    calendar = Calendar.from_ical(data)
    assert not any(component.errors for component in calendar.walk())
    return calendar.walk("VEVENT")


def test_a_download_keeps_one_event_per_session_with_the_text_on_one_line(offering):
    events = _events(offering_calendar(offering))
    assert len(events) == 2
    assert str(events[0]["SUMMARY"]) == "CIT END:VEVENT [31m (session 1 of 2)"
    assert "Camera on.\nBEGIN:VEVENT" in str(events[0]["DESCRIPTION"])


@pytest.mark.parametrize("name", ["Ana\\", "Ana\\;x", "Ana\x1bTest", 'Ana "Q" Test'])
def test_an_attendee_name_stays_in_its_cn(offering, name):
    events = _events(
        offering_invitation(
            offering,
            method="REQUEST",
            attendee_email="ana@example.org",
            attendee_name=name,
            meeting_url=offering.meeting_url,
        )  # fmt: skip
    )
    for event in events:
        attendee = event["ATTENDEE"]
        assert attendee.params["CN"] == common_name(name)
        assert attendee.params["RSVP"] == "FALSE"
        assert str(event["LOCATION"]) == "https://meet.example.org/x LOCATION:evil"


def test_common_name_is_one_line_without_backslashes():
    assert common_name("Ana\\\r\nTest") == "Ana Test"
