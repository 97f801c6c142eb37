"""The ticket: "You're confirmed" (the page Stripe returns to) and the manage page of a
confirmed attendee show both sessions, the meeting link once it is set, calendar buttons (Google,
Outlook on the web, the attendee's own .ics), what to prepare and the refund cut-offs; nobody
else gets the link or calendar buttons."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from courses.calendar_links import google_calendar_url, outlook_calendar_url
from courses.models import Offering
from registrations import links
from registrations.models import Registration
from registrations.payments import refund_terms
from registrations.payments.policy import policy_for
from tests.factories import registration_in
from tests.registrations.helpers import open_link, open_offering

S = Registration.State
MEETING = "https://meet.example.org/cit-class-42"


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def pages(client: Client, registration: Registration) -> dict[str, str]:
    """The manage page and the payment (confirmation) page, through the session's grant."""
    open_link(client, links.manage_path(registration))
    return {
        name: client.get(reverse(view, kwargs={"pk": registration.pk})).content.decode()
        for name, view in (
            ("manage", "registrations:manage-page"),
            ("confirmation", "registrations:payment-page"),
        )
    }


@pytest.mark.django_db
@pytest.mark.parametrize("meeting_url", [MEETING, ""])
def test_a_confirmed_attendee_gets_the_ticket_on_both_pages(client, offering, meeting_url):
    Offering.objects.filter(pk=offering.pk).update(meeting_url=meeting_url)
    registration = registration_in(S.CONFIRMED, offering)
    shown = pages(client, registration)
    assert "You're confirmed" in shown["confirmation"]
    for name, html in shown.items():
        assert "Your ticket" in html, name
        # Both sessions, in MT and marked up for the viewer's time.
        assert html.count('class="session-time"') >= 2, name
        assert "Session 1:" in html and "Session 2:" in html, name
        if meeting_url:
            assert f'href="{MEETING}"' in html and "Join the class" in html, name
        else:
            assert "The meeting link appears here as soon as" in html, name
        assert "calendar.google.com" in html and "outlook.office.com" in html, name
        assert f"/r/manage/{registration.pk}/calendar.ics" in html, name
        assert "that one follows any change of times" in html, name
        assert "camera" in html and "microphone" in html and "quiet place" in html, name
        assert 'class="moment-time"' in html and "full refund ($250)" in html, name
        assert "50% back ($125)" in html, name


@pytest.mark.django_db
@pytest.mark.parametrize("state", [S.PENDING_EMAIL, S.ELIGIBLE, S.HELD, S.WAITLISTED])
def test_before_confirmation_no_link_and_no_calendar_buttons(client, offering, state):
    Offering.objects.filter(pk=offering.pk).update(meeting_url=MEETING)
    registration = registration_in(state, offering)
    for name, html in pages(client, registration).items():
        assert MEETING not in html, name
        assert "calendar.ics" not in html and "calendar.google.com" not in html, name
        assert "Your ticket" not in html, name
    response = client.get(reverse("registrations:manage-calendar", kwargs={"pk": registration.pk}))
    assert response.status_code == 404


@pytest.mark.django_db
def test_the_attendees_calendar_file_carries_the_meeting_link_and_needs_the_grant(client, offering):
    Offering.objects.filter(pk=offering.pk).update(meeting_url=MEETING)
    registration = registration_in(S.CONFIRMED, offering)
    path = reverse("registrations:manage-calendar", kwargs={"pk": registration.pk})
    assert client.get(path).status_code == 403  # no grant in this session
    open_link(client, links.manage_path(registration))
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content.decode().replace("\r\n ", "")
    assert body.count("BEGIN:VEVENT") == 2 and MEETING in body
    assert response["Cache-Control"].startswith("private")


@pytest.mark.django_db
def test_web_calendar_links_carry_the_session_in_utc(offering):
    offering = Offering.objects.get(pk=offering.pk)
    first = offering.session_list[0]
    google = parse_qs(urlsplit(google_calendar_url(first, offering, meeting_url=MEETING)).query)
    start, end = google["dates"][0].split("/")
    assert start == first.starts_at.strftime("%Y%m%dT%H%M%SZ").replace("+0000", "")
    assert google["location"] == [MEETING] and "session 1 of 2" in google["text"][0]
    outlook = parse_qs(urlsplit(outlook_calendar_url(first, offering)).query)
    assert outlook["startdt"] == [first.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert outlook["location"] == ["Live online"]  # no link for anyone not confirmed


@pytest.mark.django_db
def test_refund_steps_follow_the_policy(offering):
    offering = Offering.objects.get(pk=offering.pk)
    policy = policy_for(offering.course)
    first = offering.session_list[0].starts_at
    steps = refund_terms.refund_steps(offering, 25000)
    assert [(s.until, s.percent, s.cents) for s in steps] == [
        (first - timedelta(days=policy.full_refund_days), 100, 25000),
        (first - timedelta(days=policy.partial_refund_days), policy.partial_refund_percent,
         25000 * policy.partial_refund_percent // 100),
    ]  # fmt: skip
    policy.partial_refund_percent = 0
    policy.save()
    assert len(refund_terms.refund_steps(offering, 25000)) == 1
