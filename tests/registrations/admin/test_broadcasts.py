"""``registrations.admin.broadcasts``: an unknown placeholder is refused before anything is
sent; drafts from a selection, with a preview for one recipient."""

from datetime import date

import pytest
from django.urls import reverse

from registrations.messaging.models import OutboundEmail
from registrations.models import Broadcast, Registration
from tests.factories import make_offering, registration_in

S = Registration.State


@pytest.fixture
def offering(course):
    offering = make_offering(course, date(2027, 3, 18))
    offering.meeting_url = "https://meet.example.org/cit"
    offering.save()
    return offering


@pytest.mark.django_db
def test_admin_refuses_unknown_placeholder_before_anything_is_sent(admin_client, offering):
    registration_in(S.CONFIRMED, offering)
    response = admin_client.post(
        reverse("admin:registrations_broadcast_add"),
        {
            "offering": offering.pk,
            "audience": "confirmed",
            "subject": "Hello {first_name}",
            "body": "Your data: {registration.__dict__}",
        },
    )
    assert response.status_code == 200
    assert "Unknown placeholder {registration.__dict__}" in response.content.decode()
    assert not Broadcast.objects.exists() and not OutboundEmail.objects.exists()
    draft = Broadcast.objects.create(
        offering=offering, audience="confirmed", subject="Hi", body="{nope}"
    )
    response = admin_client.post(reverse("admin:registrations_broadcast_send", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.sent_at is None and not OutboundEmail.objects.exists()


@pytest.mark.django_db
def test_admin_draft_preview_for_one_recipient_and_selected_action(admin_client, offering):
    ana = registration_in(S.CONFIRMED, offering, first_name="Ana")
    ben = registration_in(S.WAITLISTED, offering, first_name="Ben")
    response = admin_client.post(
        reverse("admin:registrations_registration_changelist"),
        {"action": "email_selected", "_selected_action": [ana.pk, ben.pk]},
    )
    assert response.status_code == 302
    add = admin_client.get(response["Location"])
    assert add.status_code == 200
    response = admin_client.post(
        response["Location"],
        {
            "offering": offering.pk,
            "audience": "selected",
            "selected": f"{ana.pk},{ben.pk}",
            "subject": "About {course_title}",
            "body": "Hello {first_name}, class on {offering_dates}. Link: {meeting_url}",
        },
    )
    broadcast = Broadcast.objects.get()
    assert response["Location"] == reverse(
        "admin:registrations_broadcast_change", args=[broadcast.pk]
    )
    page = admin_client.get(response["Location"]).content.decode()
    assert "2 recipients" in page
    assert "Hello Ana, class on March 18–19, 2027. Link: https://meet.example.org/cit" in page
    page = admin_client.get(f"{response['Location']}?preview={ben.pk}").content.decode()
    assert "Hello Ben" in page and "meet.example.org" not in page.split("preview-text")[1]
    assert broadcast.author.username == "admin"


@pytest.mark.django_db
def test_sending_needs_send_broadcast_and_the_preview_has_no_working_link(staff, offering):
    registration_in(S.CONFIRMED, offering, first_name="Ana")
    draft = Broadcast.objects.create(
        offering=offering, audience="confirmed", subject="Hi", body="Yours: {manage_url}"
    )
    change = reverse("admin:registrations_broadcast_change", args=[draft.pk])
    send = reverse("admin:registrations_broadcast_send", args=[draft.pk])
    editor = staff(
        "editor", perms=["registrations.view_broadcast", "registrations.change_broadcast"]
    )
    page = editor.get(change).content.decode()
    assert "Yours: [personal link: the recipient" in page and "/r/manage/" not in page
    assert "Send now" not in page
    assert editor.post(send).status_code == 403
    draft.refresh_from_db()
    assert draft.sent_at is None and not OutboundEmail.objects.exists()

    sender = staff("sender", groups=["Training administrator"])
    assert "Send now to 1 recipient" in sender.get(change).content.decode()
    assert sender.post(send).status_code == 302
    draft.refresh_from_db()
    assert draft.sent_at is not None and OutboundEmail.objects.count() == 1
