"""``registrations.eligibility``: a confirmed work email on a known agency domain, the review
queue for everything else, supervisor confirmation, staff approval and rejection."""

import pytest
from django.core import mail
from django.test import Client

from courses.models import Offering
from registrations import eligibility
from registrations.models import AgencyDomain, Registration
from tests.factories import registration_in
from tests.registrations.helpers import (
    confirm_work_email,
    link_from_outbox,
    open_link,
    open_offering,
    submit,
)

S = Registration.State
pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


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
    page = open_link(client, path)  # a mail scanner's GET changes nothing
    assert "works at Denver 911 Emergency Communications" in page.content.decode()
    assert Registration.objects.get().state == S.PENDING_REVIEW
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page.request["PATH_INFO"])
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


# --- international and look-alike domains ---------------------------------------------------------


def test_an_idn_agency_domain_matches_in_either_form(
    client, offering, django_capture_on_commit_callbacks
):
    AgencyDomain.objects.create(domain="Bücher.example", agency_name="Bücher 112")
    assert AgencyDomain.objects.get().domain == "xn--bcher-kva.example"
    for address in ("ana@BÜCHER.example", "ana@leitstelle.xn--bcher-kva.example"):
        assert eligibility.known_agency(address).agency_name == "Bücher 112"
    submit(client, offering, django_capture_on_commit_callbacks, work_email="ana@bücher.example")
    confirm_work_email(client, "ana@xn--bcher-kva.example", django_capture_on_commit_callbacks)
    assert Registration.objects.get().state == S.ELIGIBLE


def test_a_domain_listed_before_normalisation_is_still_found():
    AgencyDomain.objects.create(domain="xn--mnchen-3ya.example", agency_name="München 112")
    AgencyDomain.objects.update(domain="münchen.example")  # as an older release stored it
    assert eligibility.known_agency("ana@xn--mnchen-3ya.example").agency_name == "München 112"
    assert eligibility.known_agency("ana@denver911.g\u043ev") is None


def test_approving_a_look_alike_lists_nothing_and_says_why(admin_user, offering, agency):
    # Stored before the form refused look-alikes: é in an otherwise listed domain.
    registration = registration_in(
        S.PENDING_EMAIL, offering, work_email="ana@xn--dnver911-b1a.example.gov"
    )
    registration = eligibility.work_email_confirm(registration)
    assert registration.state == S.PENDING_REVIEW  # a look-alike is not the listed agency
    eligibility.review_approve(registration, staff_user=admin_user, add_domain=True)
    registration.refresh_from_db()
    assert registration.state == S.ELIGIBLE
    assert list(AgencyDomain.objects.values_list("domain", flat=True)) == [agency.domain]
    reason = registration.events.get(to_state=S.ELIGIBLE).reason
    assert "not listed (“dénver911.example.gov” looks like denver911.example.gov" in reason
