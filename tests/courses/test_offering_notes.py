"""An offering's notes for attendees: typed by staff in the offering admin, shown on the class
page and in the confirmation (both bodies), escaped as text."""

from datetime import date

import pytest
from django.core import mail

from registrations.messaging import notices, outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import make_offering, registration_in
from tests.registrations.helpers import change_form

pytestmark = pytest.mark.django_db
NOTES = "Guest instructor: Dr. <b>Ruiz</b>.\nBreak at 11:00 am & 2 pm."


def test_notes_are_shown_escaped_on_the_class_page(client, course):
    offering = make_offering(course, date(2027, 3, 18))
    response = client.get(offering.get_absolute_url())
    assert "Notes for this class" not in response.content.decode()  # none typed: no section

    offering.notes = NOTES
    offering.save()
    html = client.get(offering.get_absolute_url()).content.decode()
    assert "Notes for this class" in html
    assert "Dr. &lt;b&gt;Ruiz&lt;/b&gt;.<br>Break at 11:00 am &amp; 2 pm." in html


def test_notes_are_in_both_bodies_of_the_confirmation(course):
    offering = make_offering(course, date(2027, 3, 18))
    offering.notes = NOTES
    offering.save()
    registration = registration_in(Registration.State.CONFIRMED, offering)
    notices.send_confirmation(registration)
    outbox.email_send(OutboundEmail.objects.get(kind="confirmation").pk)

    [message] = mail.outbox
    assert f"Notes for this class:\n{NOTES}\n" in message.body
    html = message.alternatives[0][0]
    assert "Dr. &lt;b&gt;Ruiz&lt;/b&gt;.<br>Break at 11:00 am &amp; 2 pm." in html


def test_notes_with_a_bidi_override_are_refused_in_the_admin(admin_client, course):
    offering = make_offering(course, date(2027, 3, 18))
    page = f"/admin/courses/offering/{offering.pk}/change/"
    response = admin_client.post(page, change_form(offering, notes="Room \u202e4\u202c change"))
    assert response.status_code == 200
    assert "RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    offering.refresh_from_db()
    assert offering.notes == ""
