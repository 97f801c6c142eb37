"""Registering, proving eligibility, staff review, signed links and the manage page."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from courses.models import Offering
from registrations import eligibility, links
from registrations.models import AgencyDomain, Registration, RegistrationEvent
from registrations.transitions import Actor, IllegalTransition, registration_transition
from tests.factories import make_offering
from tests.registrations.helpers import (
    form_data,
    link_from_outbox,
    open_offering,
    register_url,
)

S = Registration.State
pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.fixture
def agency(db) -> AgencyDomain:
    return AgencyDomain.objects.create(domain="denver911.example.gov", agency_name="Denver 911")


def submit(client, offering, django_capture_on_commit_callbacks, **overrides):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(register_url(offering), form_data(**overrides))


def confirm_work_email(client, to, django_capture_on_commit_callbacks):
    path = link_from_outbox(to, "/r/confirm/")
    page = client.get(path)
    assert page.status_code == 200 and b"Confirm my work email" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(path)


# --- the form ---------------------------------------------------------------------------------


def test_form_errors_keep_every_typed_value(client, offering):
    data = form_data(
        first_name="  Nguyễn Thị Minh-Khai  ",
        last_name="Ångström-Øberg",
        email="not-an-email",
        accessibility_needs="Captions, please.",
        attest_employment="",
    )
    response = client.post(register_url(offering), data)
    assert response.status_code == 400
    html = response.content.decode()
    form = response.context["form"]
    assert set(form.errors) == {"email", "attest_employment"}
    assert "This course is open only to current call center staff." in html
    assert 'value="  Nguyễn Thị Minh-Khai  "' in html  # exactly as typed
    assert 'value="not-an-email"' in html
    assert 'value="Ångström-Øberg"' in html
    assert "Captions, please." in html
    assert 'value="303-555-0100"' in html
    assert '<option value="CO" selected>' in html
    assert not Registration.objects.exists()


def test_valid_form_creates_registration_and_sends_work_email_link(
    client, offering, django_capture_on_commit_callbacks
):
    long_name = "Wolfeschlegelsteinhausenbergerdorff" * 4
    response = submit(
        client,
        offering,
        django_capture_on_commit_callbacks,
        last_name=long_name,
        email="  Ana.Test+CIT@Mail.Denver911.example.gov ",
        time_zone="Not/AZone",
    )
    assert response.status_code == 302 and response["Location"] == "/registered/"
    registration = Registration.objects.get()
    assert registration.state == S.PENDING_EMAIL
    assert registration.last_name == long_name
    assert registration.email == "Ana.Test+CIT@mail.denver911.example.gov"
    assert registration.time_zone == ""  # not in the zone database: dropped, not an error
    assert registration.attested_at and registration.terms_accepted_at
    [message] = mail.outbox
    assert message.to == [f"Ana {long_name} <ana.test@denver911.example.gov>"]
    assert "Confirm your work email" in message.subject
    page = client.get("/registered/")
    assert b"Check your email" in page.content


@pytest.mark.parametrize(
    ("status", "days", "message"),
    [
        (Offering.Status.CANCELLED, 60, "This class has been cancelled."),
        (Offering.Status.PUBLISHED, -400, "This class has already taken place."),
    ],
)
def test_closed_offerings_refuse_registration(client, course, status, days, message):
    with time_machine.travel(
        timezone.now() + timedelta(days=min(days, 0) * -1 - 1 if days < 0 else 0)
    ):
        pass
    first_day = (timezone.now() + timedelta(days=days)).date()
    if days < 0:
        with time_machine.travel(timezone.now() + timedelta(days=days - 30)):
            offering = make_offering(course, first_day, status=status)
    else:
        offering = make_offering(course, first_day, status=status)
    response = client.post(register_url(offering), form_data())
    assert response.status_code == 409
    assert message in response.content.decode()
    assert not Registration.objects.exists()


def test_draft_offering_is_not_found_and_closed_registration_is_explained(client, course):
    draft = make_offering(course, (timezone.now() + timedelta(days=90)).date(), status="draft")
    assert client.get(register_url(draft)).status_code == 404
    soon = make_offering(
        course,
        (timezone.now() + timedelta(hours=20)).date() + timedelta(days=1),
        registration_opens_at=timezone.now() - timedelta(days=10),
    )
    with time_machine.travel(soon.registration_closes_at + timedelta(minutes=1)):
        response = client.get(register_url(soon))
    assert "Registration for this class has closed." in response.content.decode()


# --- eligibility ------------------------------------------------------------------------------


def test_known_domain_and_subdomain_are_eligible_at_once(
    client, offering, agency, django_capture_on_commit_callbacks
):
    submit(
        client,
        offering,
        django_capture_on_commit_callbacks,
        work_email="ana@dispatch.denver911.example.gov",
    )
    response = confirm_work_email(
        client, "ana@dispatch.denver911.example.gov", django_capture_on_commit_callbacks
    )
    registration = Registration.objects.get()
    assert registration.state == S.ELIGIBLE and registration.work_email_confirmed_at
    assert response.status_code == 302 and "/r/manage/" in response["Location"]
    assert "You are eligible" in mail.outbox[-1].subject
    manage = client.get(response["Location"])
    assert "Pay the tuition to take your seat" in manage.content.decode()
    assert "Pay $250 and take a seat" in manage.content.decode()


def test_webmail_goes_to_review_and_cannot_be_listed(
    client, offering, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks, work_email="ana@gmail.com")
    confirm_work_email(client, "ana@gmail.com", django_capture_on_commit_callbacks)
    registration = Registration.objects.get()
    assert registration.state == S.PENDING_REVIEW
    assert "checking your registration" in mail.outbox[-1].subject
    with pytest.raises(Exception, match="webmail domain"):
        AgencyDomain(domain="GMail.com", agency_name="x").full_clean()
    assert eligibility.known_agency("ana@mail.gmail.com") is None


def test_staff_approve_with_domain_and_reject_with_reason(
    admin_client, client, offering, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks, work_email="ana@new-psap.gov")
    confirm_work_email(client, "ana@new-psap.gov", django_capture_on_commit_callbacks)
    other = Client()
    submit(
        other,
        offering,
        django_capture_on_commit_callbacks,
        email="ben@example.org",
        work_email="ben@yahoo.com",
        supervisor_email="boss@yahoo.com",
    )
    confirm_work_email(other, "ben@yahoo.com", django_capture_on_commit_callbacks)
    ana = Registration.objects.get(work_email="ana@new-psap.gov")
    ben = Registration.objects.get(work_email="ben@yahoo.com")
    queue = admin_client.get("/admin/registrations/registrationunderreview/")
    html = queue.content.decode()
    assert html.index("ana@new-psap.gov") < html.index("ben@yahoo.com")  # oldest first

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/registrations/registrationunderreview/",
            {"action": "approve_and_list_domain", "_selected_action": [ana.pk]},
        )
    ana.refresh_from_db()
    assert ana.state == S.ELIGIBLE
    assert AgencyDomain.objects.get(domain="new-psap.gov").added_by.username == "admin"
    assert "You are eligible" in mail.outbox[-1].subject

    url = "/admin/registrations/registrationunderreview/"
    form = admin_client.post(url, {"action": "reject", "_selected_action": [ben.pk]})
    assert b"A reason is required" in form.content
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            url,
            {
                "action": "reject",
                "_selected_action": [ben.pk],
                "reason": "We could not confirm employment at a 911 center.",
            },
        )
    ben.refresh_from_db()
    assert ben.state == S.REJECTED
    rejection = mail.outbox[-1]
    assert rejection.to == ["Ana Test <ben@example.org>"]
    assert "We could not confirm employment at a 911 center." in rejection.body
    assert "training@citreg.localhost" in rejection.body
    event = ben.events.get(to_state=S.REJECTED)
    assert event.actor == "staff" and event.reason.startswith("We could not")


def test_supervisor_on_known_domain_can_confirm(
    client, offering, agency, django_capture_on_commit_callbacks
):
    submit(
        client,
        offering,
        django_capture_on_commit_callbacks,
        work_email="ana@county-ecc.org",
        supervisor_email="sam@denver911.example.gov",
    )
    confirm_work_email(client, "ana@county-ecc.org", django_capture_on_commit_callbacks)
    assert Registration.objects.get().state == S.PENDING_REVIEW
    path = link_from_outbox("sam@denver911.example.gov", "/r/supervisor/")
    page = client.get(path)  # a mail scanner's GET changes nothing
    assert "works at Denver 911 Emergency Communications" in page.content.decode()
    assert Registration.objects.get().state == S.PENDING_REVIEW
    with django_capture_on_commit_callbacks(execute=True):
        client.post(path)
    registration = Registration.objects.get()
    assert registration.state == S.ELIGIBLE and registration.supervisor_confirmed_at
    assert registration.events.last().actor == "supervisor"


def test_supervisor_on_unknown_domain_is_not_asked(
    client, offering, django_capture_on_commit_callbacks
):
    submit(
        client,
        offering,
        django_capture_on_commit_callbacks,
        work_email="ana@county-ecc.org",
        supervisor_email="sam@county-ecc.org",
    )
    confirm_work_email(client, "ana@county-ecc.org", django_capture_on_commit_callbacks)
    assert not [m for m in mail.outbox if "sam@county-ecc.org" in " ".join(m.to)]
    assert Registration.objects.get().state == S.PENDING_REVIEW


# --- links --------------------------------------------------------------------------------------


def test_expired_and_tampered_links(client, offering, django_capture_on_commit_callbacks):
    submit(client, offering, django_capture_on_commit_callbacks)
    path = link_from_outbox("ana.test@denver911.example.gov", "/r/confirm/")
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        expired = client.post(path)
    assert expired.status_code == 410
    assert "This link has expired" in expired.content.decode()
    assert "Email me my link" in expired.content.decode()
    tampered = client.post(path[:-3] + "xx/")
    assert tampered.status_code == 400
    assert "not valid" in tampered.content.decode()
    assert Registration.objects.get().state == S.PENDING_EMAIL
    # A manage link cannot be used as a confirmation link (different purpose, different salt).
    registration = Registration.objects.get()
    token = links.manage_url(registration).rstrip("/").rsplit("/", 1)[1]
    assert client.post(f"/r/confirm/{token}/").status_code == 400


def test_request_a_new_link_reveals_nothing(client, offering, django_capture_on_commit_callbacks):
    submit(client, offering, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/r/link/", {"email": "ANA.TEST+cit@denver911.example.gov"})
        unknown = client.post("/r/link/", {"email": "nobody@example.org"})
    assert b"If " in known.content and b"If " in unknown.content
    [message] = mail.outbox
    assert "/r/manage/" in message.body


# --- state machine ----------------------------------------------------------------------------


def test_illegal_transitions_raise_and_history_is_recorded(offering):
    registration = Registration.objects.create(
        offering=offering,
        attested_at=timezone.now(),
        participation_acknowledged_at=timezone.now(),
        terms_accepted_at=timezone.now(),
        **{k: v for k, v in form_data().items() if k in {
            "first_name", "last_name", "email", "role", "employer_name", "employer_city",
            "employer_state", "work_email", "supervisor_name", "supervisor_email",
        }},
    )  # fmt: skip
    with pytest.raises(IllegalTransition, match="pending_email to confirmed"):
        registration_transition(
            registration_id=registration.pk, to_state=S.CONFIRMED, actor=Actor.system()
        )
    first = registration_transition(
        registration_id=registration.pk, to_state=S.PENDING_REVIEW, actor=Actor.attendee()
    )
    again = registration_transition(
        registration_id=registration.pk, to_state=S.PENDING_REVIEW, actor=Actor.attendee()
    )
    assert first.changed and not again.changed
    registration_transition(
        registration_id=registration.pk, to_state=S.REJECTED, actor=Actor.system(), reason="x"
    )
    with pytest.raises(IllegalTransition):
        registration_transition(
            registration_id=registration.pk, to_state=S.ELIGIBLE, actor=Actor.system()
        )
    history = list(RegistrationEvent.objects.filter(registration=registration))
    assert [(e.from_state, e.to_state, e.actor) for e in history] == [
        ("pending_email", "pending_review", "attendee"),
        ("pending_review", "rejected", "system"),
    ]


# --- duplicates ---------------------------------------------------------------------------------


def test_registering_twice_sends_a_fresh_link_instead(
    client, offering, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks)
    response = submit(
        client,
        offering,
        django_capture_on_commit_callbacks,
        email="ANA.TEST+cit@DENVER911.example.gov",
    )
    assert response.status_code == 302
    assert Registration.objects.count() == 1
    assert b"was already registered for this class" in client.get("/registered/").content
    assert "Your registration for" in mail.outbox[-1].subject


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_duplicate_registrations_make_one(course):
    offering = open_offering(course)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post():
        barrier.wait()
        try:
            statuses.append(Client().post(register_url(offering), form_data()).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [302, 302]
    assert Registration.objects.count() == 1


def test_database_constraint_refuses_a_second_active_registration(offering):
    from django.db import IntegrityError, transaction

    fields = {
        "offering": offering, "first_name": "A", "last_name": "B", "role": "other",
        "employer_name": "E", "employer_city": "C", "employer_state": "CO",
        "work_email": "a@e.gov", "supervisor_name": "S", "supervisor_email": "s@e.gov",
        "attested_at": timezone.now(), "participation_acknowledged_at": timezone.now(),
        "terms_accepted_at": timezone.now(),
    }  # fmt: skip
    Registration.objects.create(email="a@e.gov", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(email="A@E.GOV", **fields)
    Registration.objects.filter(email="a@e.gov").update(state=S.CANCELLED)
    Registration.objects.create(email="A@E.GOV", **fields)  # allowed once the first is inactive


# --- manage page --------------------------------------------------------------------------------


def test_manage_page_edits_email_change_and_cancel(
    client, offering, agency, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks)
    confirm_work_email(client, "ana.test@denver911.example.gov", django_capture_on_commit_callbacks)
    registration = Registration.objects.get()
    path = links.manage_path(registration)
    page = client.get(path).content.decode()
    assert "Eligible" in page and "calendar.ics" in page and "MDT" in page

    client.post(path, {"save_details": "1", "first_name": "Anna", "last_name": "Test",
                       "phone": ""})  # fmt: skip
    registration.refresh_from_db()
    assert (registration.first_name, registration.phone) == ("Anna", "")
    assert "first name: 'Ana' → 'Anna'" in registration.events.last().reason

    with django_capture_on_commit_callbacks(execute=True):
        client.post(path, {"change_email": "1", "new_email": "anna@home.example.org"})
    registration.refresh_from_db()
    assert registration.email == "ana.test+cit@denver911.example.gov"  # not until confirmed
    confirm = link_from_outbox("anna@home.example.org", "/r/email/")
    client.get(confirm)
    assert Registration.objects.get().pending_email == "anna@home.example.org"
    client.post(confirm)
    registration.refresh_from_db()
    assert (registration.email, registration.pending_email) == ("anna@home.example.org", "")
    # Links made for the old address stop working; the new address gets its own.
    assert client.get(path).status_code == 410
    path = links.manage_path(registration)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {"cancel": "1"}, follow=True)
    assert "Your registration is cancelled." in response.content.decode()
    registration.refresh_from_db()
    assert registration.state == S.CANCELLED
    assert mail.outbox[-1].subject.startswith("Cancelled:")


def test_manage_link_expires_30_days_after_the_class(offering):
    registration = Registration.objects.create(
        offering=offering, email="a@e.gov", first_name="A", last_name="B", role="other",
        employer_name="E", employer_city="C", employer_state="CO", work_email="a@e.gov",
        supervisor_name="S", supervisor_email="s@e.gov", attested_at=timezone.now(),
        participation_acknowledged_at=timezone.now(), terms_accepted_at=timezone.now(),
    )  # fmt: skip
    path = links.manage_path(registration)
    with time_machine.travel(offering.ends_at() + timedelta(days=29)):
        assert Client().get(path).status_code == 200
    with time_machine.travel(offering.ends_at() + timedelta(days=31)):
        assert Client().get(path).status_code == 410


# --- abuse limits -------------------------------------------------------------------------------


def test_too_many_link_requests_get_the_429_page(client, settings, db):
    from django.core.cache import cache

    cache.clear()
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_LINK_REQUEST = "3/h"
    settings.RATELIMIT_LINK_REQUEST_IP = "5/h"
    for _ in range(3):
        assert client.post("/r/link/", {"email": "x@example.org"}).status_code == 200
    response = client.post("/r/link/", {"email": "x@example.org"})
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"
    assert "Too many attempts" in response.content.decode()
    # Another email from the same address is limited by IP, at its own (higher) rate.
    assert client.post("/r/link/", {"email": "y@example.org"}).status_code == 200
    assert client.post("/r/link/", {"email": "z@example.org"}).status_code == 429


def test_accessibility_needs_need_the_dedicated_permission(admin_user, offering, django_user_model):
    registration = Registration.objects.create(
        offering=offering, email="a@e.gov", first_name="A", last_name="B", role="other",
        employer_name="E", employer_city="C", employer_state="CO", work_email="a@e.gov",
        supervisor_name="S", supervisor_email="s@e.gov", attested_at=timezone.now(),
        participation_acknowledged_at=timezone.now(), terms_accepted_at=timezone.now(),
        accessibility_needs="Sign language interpreter",
    )  # fmt: skip
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_registration"))
    client = Client()
    client.force_login(staff)
    url = f"/admin/registrations/registration/{registration.pk}/change/"
    assert b"Sign language interpreter" not in client.get(url).content
    staff.user_permissions.add(Permission.objects.get(codename="view_accessibility_needs"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert b"Sign language interpreter" in client.get(url).content
