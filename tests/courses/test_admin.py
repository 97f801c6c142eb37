"""``courses.admin``: courses, offerings and sessions keep an audit history that staff read in
the admin (who changed what and when, ``HistoryAdmin``), read-only; the offering page links to
its registrations for a roster."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from courses.models import Course, Offering
from registrations.models import Registration
from tests.factories import make_offering, registration_in
from tests.registrations.helpers import change_form

OFFERINGS = "/admin/courses/offering/"


@pytest.fixture
def offering(course) -> Offering:
    return make_offering(course, date(2027, 3, 18))


@pytest.fixture
def trainer(django_user_model) -> Client:
    user = django_user_model.objects.create_user("trainer", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Training administrator"))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_offerings_history_shows_who_changed_what(trainer, offering):
    response = trainer.post(
        f"{OFFERINGS}{offering.pk}/change/",
        change_form(offering, capacity=17, meeting_url="https://meet.example.org/new"),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    history = trainer.get(f"{OFFERINGS}{offering.pk}/history/").content.decode()
    assert "trainer" in history and "Capacity" in history and "17" in history
    assert "https://meet.example.org/new" in history
    session = offering.sessions.first()
    assert trainer.get(f"/admin/courses/session/{session.pk}/history/").status_code == 200
    course = Course.objects.get()
    assert trainer.get(f"/admin/courses/course/{course.pk}/history/").status_code == 200


@pytest.mark.django_db
def test_the_history_cannot_revert(trainer, offering):
    offering.capacity = 17
    offering.save()
    first = offering.history.earliest()
    page = f"{OFFERINGS}{offering.pk}/history/{first.history_id}/"
    shown = trainer.get(page)
    assert shown.status_code == 200 and "Revert" not in shown.content.decode()
    assert trainer.post(page, change_form(offering, capacity=99)).status_code == 403
    offering.refresh_from_db()
    assert offering.capacity == 17
    assert trainer.get(f"{OFFERINGS}{offering.pk}/history/password/").status_code == 404


@pytest.mark.django_db
def test_the_offering_page_links_to_its_roster_and_attendance(trainer, offering):
    html = trainer.get(f"{OFFERINGS}{offering.pk}/change/").content.decode()
    assert f"/admin/courses/offering/{offering.pk}/roster/" in html
    first = offering.session_list[0]
    assert f"/admin/courses/session/{first.pk}/attendance/" in html


@pytest.mark.django_db
def test_capacity_never_goes_below_the_seats_taken(admin_client, course):
    offering = make_offering(course, date(2027, 3, 18), capacity=3)
    registration_in(Registration.State.CONFIRMED, offering)
    registration_in(
        Registration.State.HELD, offering, hold_expires_at=timezone.now() + timedelta(minutes=30)
    )  # a running hold takes a seat too
    page = f"/admin/courses/offering/{offering.pk}/change/"
    response = admin_client.post(page, change_form(offering, capacity=1))
    assert response.status_code == 200
    assert "2 seats are taken" in response.content.decode()
    offering.refresh_from_db()
    assert offering.capacity == 3
    assert admin_client.post(page, change_form(offering, capacity=2)).status_code == 302
    offering.refresh_from_db()
    assert offering.capacity == 2


@pytest.mark.django_db
def test_the_offerings_list_counts_seats_confirmed_and_waitlist(admin_client, course):
    offering = make_offering(course, date(2027, 3, 18), capacity=5)
    for _ in range(2):
        registration_in(Registration.State.CONFIRMED, offering)
    registration_in(Registration.State.WAITLISTED, offering)
    registration_in(
        Registration.State.HELD, offering, hold_expires_at=timezone.now() + timedelta(minutes=30)
    )
    response = admin_client.get("/admin/courses/offering/")
    row = next(
        line for line in response.content.decode().split("<tr") if f"/{offering.pk}/change/" in line
    )
    assert '<td class="field-seats">3 / 5</td>' in row
    assert '<td class="field-confirmed_count">2</td>' in row
    assert '<td class="field-waitlist_count">1</td>' in row


@pytest.mark.django_db
def test_duplicating_a_class_from_the_admin(admin_client, course):
    source = make_offering(course, date(2027, 3, 4), evening=True)
    action = {"action": "duplicate_to_a_new_date", "_selected_action": [source.pk]}
    page = admin_client.post(OFFERINGS, action)
    assert page.status_code == 200 and "First day of the new class" in page.content.decode()
    taken = admin_client.post(OFFERINGS, {**action, "first_day": "2027-03-04"})
    assert taken.status_code == 200 and "already" in taken.content.decode()  # its own day
    done = admin_client.post(OFFERINGS, {**action, "first_day": "2027-03-18"})
    copy = Offering.objects.exclude(pk=source.pk).get()
    assert done["Location"] == f"{OFFERINGS}{copy.pk}/change/"
    assert copy.status == Offering.Status.DRAFT
    assert [s.starts_at.astimezone(source.zone).hour for s in copy.session_list] == [16, 16]
