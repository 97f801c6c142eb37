"""Regressions found in review of the email, calendar, admin and eligibility paths."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.forms.models import model_to_dict
from django.utils import timezone

from courses.models import Offering, Session
from registrations.messaging import broadcasts, notices
from registrations.messaging import outbox as emails
from registrations.messaging.models import OutboundEmail
from registrations.models import Broadcast, Registration
from tests.factories import make_offering, registration_in
from tests.registrations.test_change_notices import change_form

S = Registration.State


@pytest.fixture
def offering(course):
    return make_offering(course, date(2027, 3, 18))


@pytest.mark.django_db
def test_sessions_are_moved_not_replaced_in_the_admin(admin_client, offering):
    registration_in(S.CONFIRMED, offering)
    old = offering.session_list[1]
    data = change_form(offering)
    data["sessions-1-DELETE"] = "on"  # no delete box is offered; a forged one is ignored
    local = timezone.get_current_timezone()
    starts, ends = (
        (old.starts_at + timedelta(hours=1)).astimezone(local),
        (old.ends_at + timedelta(hours=1)).astimezone(local),
    )
    data.update({
        "sessions-TOTAL_FORMS": "3", "sessions-2-offering": offering.pk,
        "sessions-2-starts_at_0": f"{starts:%Y-%m-%d}",
        "sessions-2-starts_at_1": f"{starts:%H:%M:%S}",
        "sessions-2-ends_at_0": f"{ends:%Y-%m-%d}", "sessions-2-ends_at_1": f"{ends:%H:%M:%S}",
    })  # fmt: skip
    response = admin_client.post(f"/admin/courses/offering/{offering.pk}/change/", data)
    assert response.status_code == 200
    assert "has 2 sessions; 3 given" in response.content.decode()
    assert Session.objects.filter(pk=old.pk).exists()
    assert not OutboundEmail.objects.filter(kind="update").exists()


@pytest.mark.django_db
def test_moving_a_class_in_the_admin_moves_the_registration_deadline(admin_client, offering):
    response = admin_client.post(
        f"/admin/courses/offering/{offering.pk}/change/",
        change_form(offering, shift=timedelta(days=-3)),
    )
    assert response.status_code == 302
    offering = Offering.objects.get(pk=offering.pk)
    first = offering.session_list[0].starts_at
    assert offering.registration_closes_at == first - offering.course.registration_lead
    assert offering.registration_state(first + timedelta(hours=1)) != "open"


@pytest.mark.django_db
def test_unknown_time_zones_are_refused_with_a_message(admin_client, offering, course):
    response = admin_client.post(
        f"/admin/courses/offering/{offering.pk}/change/",
        change_form(offering, time_zone="America/Denvr"),
    )
    assert response.status_code == 200
    assert "is not a time zone name" in response.content.decode()
    data = {k: v for k, v in model_to_dict(course).items() if v is not None}
    data["time_zone"] = "Mountain Time"
    response = admin_client.post(f"/admin/courses/course/{course.pk}/change/", data)
    course.refresh_from_db()
    assert course.time_zone == "America/Denver"


@pytest.mark.django_db
def test_approving_needs_a_confirmed_work_email(admin_client, offering):
    registration = registration_in(
        S.PENDING_EMAIL, offering, work_email="x@unknown-agency.example.com"
    )
    admin_client.post(
        "/admin/registrations/registration/",
        {"action": "approve_and_list_domain", "_selected_action": [registration.pk]},
    )
    registration.refresh_from_db()
    assert registration.state == S.PENDING_EMAIL
    from registrations.models import AgencyDomain

    assert not AgencyDomain.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_no_meeting_link_for_people_no_longer_confirmed(offering, admin_user):
    offering.meeting_url = "https://meet.example.org/secret"
    offering.save()
    ana = registration_in(S.CONFIRMED, offering)
    notices.send_confirmation(ana)
    confirmation = OutboundEmail.objects.get(kind="confirmation")
    OutboundEmail.objects.filter(pk=confirmation.pk).update(status="queued", attempts=1)
    broadcast = Broadcast.objects.create(
        offering=offering, audience=Broadcast.Audience.CONFIRMED, subject="Hi",
        body="Join at {meeting_url}", author=admin_user,
    )  # fmt: skip
    broadcasts.broadcast_send(broadcast, user=admin_user)
    row = OutboundEmail.objects.get(batch=broadcast.batch_key)
    OutboundEmail.objects.filter(pk=row.pk).update(status=OutboundEmail.Status.FAILED)
    Registration.objects.filter(pk=ana.pk).update(state=S.REFUNDED)  # the place ended
    mail.outbox.clear()
    emails.email_send(confirmation.pk)  # a retry due after the refund
    broadcasts.broadcast_retry_failed(broadcast)
    emails.email_send(row.pk)
    assert not any("meet.example.org/secret" in m.body for m in mail.outbox)
    assert set(
        OutboundEmail.objects.filter(pk__in=[confirmation.pk, row.pk]).values_list(
            "status", flat=True
        )
    ) == {"skipped"}


@pytest.mark.django_db
def test_offer_deadline_in_the_attendees_zone_too(course):
    offering = make_offering(course, date(2027, 3, 18))
    registration = registration_in(S.HELD, offering, time_zone="America/New_York")
    registration.hold_expires_at = timezone.now() + timedelta(hours=24)
    notices.send_waitlist_offer(registration)
    text = OutboundEmail.objects.get(kind="waitlist_offer").context["offer_ends"]
    assert text.split()[-3] in ("EST", "EDT") and text.endswith("your time)")
    assert " MST" in text or " MDT" in text
