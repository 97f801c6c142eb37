"""Admin: "Cancel this class…" on the offering list (confirmation page with the counts and the
amount, then the cancellation and the progress page) and the offering form pointing to it."""

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from courses.models import Offering
from registrations.changes.models import CancellationChoice, ClassCancellation
from registrations.models import Registration
from registrations.payments.models import Payment
from tests.factories import next_date, registration_in
from tests.registrations.helpers import open_offering

S = Registration.State
URL = "/admin/courses/offering/"


def paid(registration: Registration) -> Payment:
    return Payment.objects.create(
        registration=registration, status=Payment.Status.PAID, amount_cents=25000,
        idempotency_key=f"test:{uuid.uuid4().hex}", paid_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def offering(course):
    offering = open_offering(course)
    for state in (S.PENDING_EMAIL, S.WAITLISTED, S.ELIGIBLE):
        registration_in(state, offering)
    return offering


@pytest.mark.django_db
def test_the_confirmation_page_shows_counts_and_amount(offering, admin_client):
    paid(registration_in(S.CONFIRMED, offering, email="c1@denver911.example.gov"))
    page = admin_client.post(
        URL, {"action": "cancel_this_class", "_selected_action": [offering.pk]}
    )
    html = page.content.decode()
    assert page.status_code == 200 and "Cancel the class" in html
    assert "Active registrations (4)" in html and "$250" in html
    for label in ("Confirmed", "Waitlisted", "Eligible", "Work email not yet confirmed"):
        assert label in html
    offering.refresh_from_db()
    assert offering.status == Offering.Status.PUBLISHED  # nothing happened yet


@pytest.mark.django_db
def test_one_class_at_a_time(offering, course, admin_client):
    other = open_offering(course, next_date(7, 8) + timedelta(days=14))
    page = admin_client.post(
        URL, {"action": "cancel_this_class", "_selected_action": [offering.pk, other.pk]},
        follow=True,
    )  # fmt: skip
    assert "Select exactly one class to cancel." in page.content.decode()
    assert not ClassCancellation.objects.exists()


@pytest.mark.django_db
def test_a_reason_is_required_and_the_form_keeps_the_box(offering, admin_client):
    page = admin_client.post(
        URL, {"action": "cancel_this_class", "_selected_action": [offering.pk], "apply": "1",
              "reason": "", "refund_everyone": "on"},
    )  # fmt: skip
    assert page.status_code == 200 and "This field is required." in page.content.decode()
    assert re.search(r'<input[^>]*name="refund_everyone"[^>]*checked', page.content.decode())
    assert not ClassCancellation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_cancelling_goes_to_the_progress_page_and_a_rerun_too(offering, admin_client):
    answer = admin_client.post(
        URL, {"action": "cancel_this_class", "_selected_action": [offering.pk], "apply": "1",
              "reason": "Too few registrations."},
    )  # fmt: skip
    progress = f"/admin/courses/offering/{offering.pk}/cancellation/"
    assert answer.status_code == 302 and answer["Location"] == progress
    offering.refresh_from_db()
    assert offering.status == Offering.Status.CANCELLED
    cancellation = ClassCancellation.objects.get()
    assert cancellation.reason == "Too few registrations." and not cancellation.refund_everyone
    # The task ran (eagerly, on commit): everyone handled, nobody paid, so it is finished.
    assert CancellationChoice.objects.filter(cancellation=cancellation).count() == 3
    page = admin_client.get(progress)
    html = page.content.decode()
    assert page.status_code == 200 and "Too few registrations." in html
    assert 'data-count="total">3<' in html and 'data-count="settled">3<' in html
    assert "Finished." in html and "data-refresh-seconds" not in html
    again = admin_client.post(
        URL, {"action": "cancel_this_class", "_selected_action": [offering.pk]}
    )
    assert again.status_code == 302 and again["Location"] == progress
    assert ClassCancellation.objects.count() == 1
    assert CancellationChoice.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_progress_page_shows_who_is_waiting_for_their_choice(offering, admin_client):
    paid(registration_in(S.CONFIRMED, offering, email="c2@denver911.example.gov"))
    admin_client.post(
        URL, {"action": "cancel_this_class", "_selected_action": [offering.pk], "apply": "1",
              "reason": "Ice storm."},
    )  # fmt: skip
    html = admin_client.get(f"/admin/courses/offering/{offering.pk}/cancellation/").content
    assert b'data-count="waiting">1<' in html
    # Everyone was told: nothing runs until someone chooses, so the figures are not refetched.
    assert b"data-refresh-seconds" not in html and b'http-equiv="refresh"' not in html


@pytest.mark.django_db
def test_the_progress_page_updates_its_figures_while_the_work_runs(offering, admin_client):
    registration_in(S.WAITLISTED, offering, email="w9@denver911.example.gov")
    # The background task runs after commit: in this transaction nobody is handled yet.
    admin_client.post(
        URL, {"action": "cancel_this_class", "_selected_action": [offering.pk], "apply": "1",
              "reason": "Ice storm."},
    )  # fmt: skip
    html = admin_client.get(f"/admin/courses/offering/{offering.pk}/cancellation/").content
    assert b'data-count="remaining">4<' in html  # the three of the fixture and one more
    assert b'data-refresh-seconds="3"' in html and b'aria-live="polite"' in html
    assert b"js/refresh-region.js" in html and b'http-equiv="refresh"' not in html


@pytest.mark.django_db
def test_the_progress_page_needs_change_on_offerings(offering, staff, admin_client):
    from registrations.changes import class_cancellation

    class_cancellation.class_cancel(
        offering,
        reason="x",
        refund_everyone=False,
        staff_user=None,  # type: ignore[arg-type]
    )
    viewer = staff("viewer", perms=["courses.view_offering"])
    assert viewer.get(f"/admin/courses/offering/{offering.pk}/cancellation/").status_code == 403


@pytest.mark.django_db
def test_the_offering_form_refuses_and_points_to_the_action(offering, course, admin_client):
    data = {
        "course": course.pk, "status": "cancelled", "part_of_day": "day", "capacity": 24,
        "time_zone": "America/Denver",
        "registration_opens_at_0": "2026-01-01", "registration_opens_at_1": "00:00:00",
        "registration_closes_at_0": "", "registration_closes_at_1": "",
        "sessions-TOTAL_FORMS": "0", "sessions-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = admin_client.post(f"{URL}{offering.pk}/change/", data)
    html = response.content.decode()
    assert "3 active registration(s)" in html and "Cancel this class…" in html
    offering.refresh_from_db()
    assert offering.status == Offering.Status.PUBLISHED
