"""The substitution's doors: the manage page's "Send a colleague in your place" (name a
colleague, see the request, withdraw it), the colleague's page behind their emailed link (the
registration form prefilled; sending it confirms the work email and decides eligibility), and
staff's "Substitute a colleague…" action and the substitutions' admin (approve or reject, behind
the review permission)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from registrations import links, roles
from registrations.changes import substitutions
from registrations.changes.models import Substitution
from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import AgencyDomain, Registration
from registrations.transitions import Actor
from tests.factories import make_offering, next_date, registration_in
from tests.registrations.helpers import form_data, link_from_outbox, open_link

S = Registration.State
Status = Substitution.Status
LIST = "/admin/registrations/registration/"
SUBSTITUTIONS = "/admin/registrations/substitution/"


@pytest.fixture
def offering(course):
    return make_offering(course, next_date(7, 8))


@pytest.fixture
def agency(db):
    return AgencyDomain.objects.create(domain="denver911.gov", agency_name="Denver 911")


def manage_path(client: Client, registration: Registration) -> str:
    return open_link(client, links.manage_path(registration)).request["PATH_INFO"]


def staff_client(django_user_model, name: str, group: str = "") -> Client:
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def colleague_page(client: Client, to: str = "bea@denver911.gov"):
    """Send the queued invitation and open its link as the colleague's browser does."""
    row = OutboundEmail.objects.filter(kind=substitutions.INVITE).latest("pk")
    assert outbox.email_send(row.pk).outcome == "sent"
    return open_link(client, link_from_outbox(to, "/r/substitute/"))


def colleague_form(**overrides: str) -> dict:
    data = form_data(
        **{
            "first_name": "Bea",
            "last_name": "Colleague",
            "email": "",
            "supervisor_email": "sue@denver911.gov",
            **overrides,
        }
    )
    del data["work_email"]  # fixed: the link proved it
    return data


@pytest.mark.django_db
def test_the_attendee_names_a_colleague_sees_the_request_and_withdraws_it(client, offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    path = manage_path(client, registration)
    page = client.get(path).content.decode()
    assert "Send a colleague in your place" in page and 'name="substitute_request"' in page

    response = client.post(
        path,
        {
            "substitute_request": "1",
            "colleague_first_name": "Bea",
            "colleague_last_name": "Colleague",
            "colleague_work_email": "bea@denver911.gov",
        },
    )
    assert response.status_code == 302
    substitution = Substitution.objects.get(registration=registration)
    assert substitution.status == Status.PENDING_EMAIL and substitution.actor == "attendee"
    page = client.get(path).content.decode()
    assert "We sent Bea a link at bea@denver911.gov" in page
    assert "waiting for the colleague to confirm" in page and 'name="substitute_withdraw"' in page

    client.post(path, {"substitute_withdraw": "1"})
    substitution.refresh_from_db()
    assert substitution.status == Status.WITHDRAWN
    assert 'name="substitute_request"' in client.get(path).content.decode()


@pytest.mark.django_db
def test_a_refused_colleague_is_shown_with_the_values_typed(client, offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    path = manage_path(client, registration)
    response = client.post(
        path,
        {
            "substitute_request": "1",
            "colleague_first_name": "Bea",
            "colleague_last_name": "Colleague",
            "colleague_work_email": "bea@gmail.com",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "webmail address cannot" in html and 'value="bea@gmail.com"' in html
    assert not Substitution.objects.exists()


@pytest.mark.django_db
def test_the_colleague_confirms_prefilled_details_and_takes_the_place(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    substitutions.substitution_request(
        registration,
        first_name="Bea",
        last_name="Colleague",
        work_email="bea@denver911.gov",
        actor=Actor.attendee(),
    )
    browser = Client()
    page = colleague_page(browser)
    path = page.request["PATH_INFO"]
    html = page.content.decode()
    assert path.startswith("/r/substitute/") and ":" not in path  # the token is gone
    assert 'value="Bea"' in html and 'value="Colleague"' in html
    assert "bea@denver911.gov" in html and "Take the place" in html
    assert 'value="Denver 911"' in html  # the agency, known from the registration

    response = browser.post(path, colleague_form())
    assert response.status_code == 302
    assert response["Location"] == links.manage_page_path(registration)
    registration.refresh_from_db()
    assert (registration.first_name, registration.email) == ("Bea", "bea@denver911.gov")
    manage = browser.get(response["Location"]).content.decode()
    assert "The place is yours" in manage


@pytest.mark.django_db
def test_the_colleague_form_shows_errors_with_the_values_typed(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    substitutions.substitution_request(
        registration,
        first_name="Bea",
        last_name="Colleague",
        work_email="bea@denver911.gov",
        actor=Actor.attendee(),
    )
    browser = Client()
    path = colleague_page(browser).request["PATH_INFO"]
    response = browser.post(path, colleague_form(phone="not a phone", attest_employment=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a phone number" in html and 'value="not a phone"' in html
    assert Substitution.objects.get().status == Status.PENDING_EMAIL


@pytest.mark.django_db
def test_an_unknown_domain_waits_for_review_and_staff_approve_it(django_user_model, offering):
    registration = registration_in(S.CONFIRMED, offering, work_email="ana@psap.example")
    substitutions.substitution_request(
        registration,
        first_name="Bea",
        last_name="Colleague",
        work_email="bea@psap.example",
        actor=Actor.attendee(),
    )
    browser = Client()
    path = colleague_page(browser, "bea@psap.example").request["PATH_INFO"]
    response = browser.post(path, colleague_form(supervisor_email="sue@psap.example"), follow=True)
    assert "checking your employment" in response.content.decode()
    substitution = Substitution.objects.get()
    assert substitution.status == Status.PENDING_REVIEW
    registration.refresh_from_db()
    assert registration.work_email == "ana@psap.example"

    finance = staff_client(django_user_model, "finance", roles.FINANCE)
    refused = finance.post(
        SUBSTITUTIONS, {"action": "approve", "_selected_action": [substitution.pk]}
    )
    assert refused.status_code == 403  # approving needs the review permission
    substitution.refresh_from_db()
    assert substitution.status == Status.PENDING_REVIEW

    reviewer = staff_client(django_user_model, "reviewer", roles.ELIGIBILITY_REVIEWER)
    listing = reviewer.get(f"{SUBSTITUTIONS}?status__exact=pending_review").content.decode()
    assert "Bea Colleague" in listing
    reviewer.post(SUBSTITUTIONS, {"action": "approve", "_selected_action": [substitution.pk]})
    substitution.refresh_from_db()
    assert substitution.status == Status.COMPLETED
    registration.refresh_from_db()
    assert registration.work_email == "bea@psap.example"


@pytest.mark.django_db
def test_staff_reject_with_a_reason(django_user_model, offering):
    registration = registration_in(S.CONFIRMED, offering, work_email="ana@psap.example")
    substitution = substitutions.substitution_request(
        registration,
        first_name="Bea",
        last_name="Colleague",
        work_email="bea@psap.example",
        actor=Actor.attendee(),
    )
    substitutions.substitution_submit(
        substitution, data={**colleague_form(), "email": "", "role": "call_taker"}
    )
    reviewer = staff_client(django_user_model, "reviewer", roles.ELIGIBILITY_REVIEWER)
    data = {"action": "reject", "_selected_action": [substitution.pk]}
    page = reviewer.post(SUBSTITUTIONS, data)
    assert page.status_code == 200 and b'name="reason"' in page.content
    reviewer.post(SUBSTITUTIONS, {**data, "reason": "Not employed there."})
    substitution.refresh_from_db()
    assert (substitution.status, substitution.decision_reason) == (
        Status.REJECTED,
        "Not employed there.",
    )


@pytest.mark.django_db
def test_a_tampered_or_expired_link_does_not_open_the_page(client, offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    substitution = substitutions.substitution_request(
        registration,
        first_name="Bea",
        last_name="Colleague",
        work_email="bea@denver911.gov",
        actor=Actor.attendee(),
    )
    url = substitutions.substitution_url(substitution)
    path = url.removeprefix("http://testserver").split("://", 1)[-1]
    path = path[path.index("/r/") :]
    assert client.get(path[:-3] + "xx/").status_code == 410
    assert client.get(f"/r/substitute/{substitution.pk}/").status_code == 403  # no grant
    offering.course.transfer_deadline_days = 400  # the deadline, and the link's expiry, passed
    offering.course.save()
    assert client.get(path).status_code == 410


@pytest.mark.django_db
def test_staff_substitute_from_the_registration_list(django_user_model, offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    start = offering.session_list[0].starts_at
    assert start - timedelta(days=7) > registration.created_at
    office = staff_client(django_user_model, "office", roles.TRAINING_ADMINISTRATOR)
    data = {"action": "substitute_a_colleague", "_selected_action": [registration.pk]}
    page = office.post(LIST, data)
    assert page.status_code == 200 and b'name="work_email"' in page.content
    refused = office.post(
        LIST,
        {**data, "apply": "1", "first_name": "Bea", "last_name": "C", "work_email": "b@x.example"},
    )
    assert b"same agency domain" in refused.content
    response = office.post(
        LIST,
        {
            **data,
            "apply": "1",
            "first_name": "Bea",
            "last_name": "Colleague",
            "work_email": "bea@denver911.gov",
        },
        follow=True,
    )
    assert "was sent a link to take the place" in response.content.decode()
    substitution = Substitution.objects.get()
    assert (substitution.actor, substitution.staff_user.username) == ("staff", "office")


@pytest.mark.django_db
def test_the_action_needs_change_on_registrations(django_user_model, offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    finance = staff_client(django_user_model, "finance", roles.FINANCE)
    response = finance.post(
        LIST,
        {
            "action": "substitute_a_colleague",
            "_selected_action": [registration.pk],
            "apply": "1",
            "first_name": "Bea",
            "last_name": "Colleague",
            "work_email": "bea@denver911.gov",
        },
        follow=True,
    )
    assert "No action selected." in response.content.decode()
    assert not Substitution.objects.exists()


@pytest.mark.django_db
def test_the_original_persons_manage_link_stops_working_once_the_place_passed(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    old_link = links.manage_path(registration)
    original = Client()
    assert open_link(original, old_link).status_code == 200
    substitution = substitutions.substitution_request(
        registration,
        first_name="Bea",
        last_name="Colleague",
        work_email="bea@denver911.gov",
        actor=Actor.attendee(),
    )
    substitutions.substitution_submit(
        substitution, data={**colleague_form(), "email": "", "role": "call_taker"}
    )
    assert original.get(links.manage_page_path(registration)).status_code == 410  # the grant
    assert original.get(old_link).status_code == 410  # and the emailed link
