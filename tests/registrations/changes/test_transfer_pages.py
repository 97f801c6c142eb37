"""The transfer's two doors: the attendee's "Change to another class" on the manage page (a
choice, then a POST confirmation; refusals in words) and staff's "Transfer to another class…"
admin action (a page of options with seats left, then the move)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from registrations import links, roles
from registrations.changes.models import Transfer
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import make_offering, next_date, registration_in
from tests.registrations.helpers import open_link

S = Registration.State
LIST = "/admin/registrations/registration/"


@pytest.fixture
def classes(course):
    first = make_offering(course, next_date(7, 8))
    second = make_offering(course, next_date(7, 8) + timedelta(days=7), evening=True)
    return first, second


def manage_path(client: Client, registration: Registration) -> str:
    return open_link(client, links.manage_path(registration)).request["PATH_INFO"]


@pytest.mark.django_db
def test_the_attendee_chooses_confirms_and_moves(client, classes):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    path = manage_path(client, registration)

    page = client.get(path).content.decode()
    assert "Change to another class" in page
    assert "1 change left" in page
    assert second.date_label in page and f"{second.capacity} seats left" in page
    assert 'class="session-time"' in page  # MT with the visitor's own time (the script's hook)
    assert f"?transfer_to={second.pk}" in page
    assert "Move to this class" not in page

    confirm = client.get(f"{path}?transfer_to={second.pk}").content.decode()
    assert "Move to this class" in confirm and 'name="csrfmiddlewaretoken"' in confirm
    assert not Transfer.objects.exists()  # choosing changes nothing

    response = client.post(path, {"transfer_confirm": "1", "transfer_to": str(second.pk)})
    assert response.status_code == 302
    registration.refresh_from_db()
    assert registration.offering_id == second.pk
    assert OutboundEmail.objects.filter(registration=registration, kind="transferred").count() == 1
    after = client.get(path).content.decode()
    assert f"Your place is now in the class of {second.date_label}" in after
    assert "as often as this course allows" in after  # the one change is used


@pytest.mark.django_db
def test_a_refused_move_says_why_and_changes_nothing(client, classes, course):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    path = manage_path(client, registration)
    course.transfer_deadline_days = 400  # the deadline has passed
    course.save()
    page = client.get(path).content.decode()
    assert "close 400 days before the first session" in page
    assert f"?transfer_to={second.pk}" not in page
    client.post(path, {"transfer_confirm": "1", "transfer_to": str(second.pk)})
    registration.refresh_from_db()
    assert registration.offering_id == first.pk
    assert "close 400 days" in client.get(path).content.decode()


@pytest.mark.django_db
def test_no_section_before_the_place_is_confirmed(client, classes):
    first, _ = classes
    registration = registration_in(S.ELIGIBLE, first)
    assert (
        "Change to another class"
        not in client.get(manage_path(client, registration)).content.decode()
    )


def staff_client(django_user_model, name: str, group: str = "") -> Client:
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_staff_transfer_from_the_registration_list(django_user_model, classes, course):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    Transfer.objects.create(  # the attendee's one change is used: staff are not bound
        registration=registration, from_offering=second, to_offering=first, actor="attendee"
    )
    office = staff_client(django_user_model, "office", roles.TRAINING_ADMINISTRATOR)
    data = {"action": "transfer_to_another_class", "_selected_action": [registration.pk]}

    page = office.post(LIST, data)
    assert page.status_code == 200
    html = page.content.decode()
    assert f"{second.date_label} · Evening class ({second.capacity} seats left)" in html
    assert 'name="apply"' in html

    response = office.post(LIST, {**data, "apply": "1", "target": str(second.pk)}, follow=True)
    assert "moved to" in response.content.decode()
    registration.refresh_from_db()
    assert registration.offering_id == second.pk
    record = Transfer.objects.latest("pk")
    assert (record.actor, record.staff_user.username) == ("staff", "office")


@pytest.mark.django_db
def test_the_action_needs_change_on_registrations(django_user_model, classes):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    finance = staff_client(django_user_model, "finance", roles.FINANCE)
    data = {
        "action": "transfer_to_another_class",
        "_selected_action": [registration.pk],
        "apply": "1",
        "target": str(second.pk),
    }
    response = finance.post(LIST, data, follow=True)
    assert "No action selected." in response.content.decode()
    registration.refresh_from_db()
    assert registration.offering_id == first.pk


@pytest.mark.django_db
def test_the_action_refuses_an_unconfirmed_registration(django_user_model, classes):
    first, _ = classes
    registration = registration_in(S.ELIGIBLE, first)
    office = staff_client(django_user_model, "office", roles.TRAINING_ADMINISTRATOR)
    response = office.post(
        LIST,
        {"action": "transfer_to_another_class", "_selected_action": [registration.pk]},
        follow=True,
    )
    assert "Only a confirmed place can move" in response.content.decode()


@pytest.mark.django_db
def test_staff_transfer_from_the_roster_posts_back_to_the_roster(django_user_model, classes):
    first, second = classes
    registration = registration_in(S.CONFIRMED, first)
    office = staff_client(django_user_model, "office", roles.TRAINING_ADMINISTRATOR)
    roster = f"/admin/courses/offering/{first.pk}/roster/"
    data = {"action": "transfer_to_another_class", "_selected_action": [registration.pk]}
    page = office.post(roster, data)
    assert page.status_code == 200 and b'name="target"' in page.content
    response = office.post(roster, {**data, "apply": "1", "target": str(second.pk)})
    assert response.status_code == 302 and response["Location"] == roster
    registration.refresh_from_db()
    assert registration.offering_id == second.pk
