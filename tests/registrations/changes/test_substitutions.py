"""A colleague takes a confirmed registration's place: the rules (deadline, same agency,
webmail, same person, a place already held), the place passing only once the colleague is
eligible (a known domain at once, an unknown one after staff approval), the history naming both
people, the emails (the colleague's REQUEST, the original person's CANCEL for their own address),
the certificate naming the colleague, and a later refund going to the original payment."""

import uuid
from datetime import timedelta

import icalendar
import pytest
from django.utils import timezone

from courses.models import Offering
from registrations.certificates.service import issue_certificate
from registrations.changes import substitutions
from registrations.changes.models import Substitution
from registrations.messaging.models import OutboundEmail
from registrations.models import AgencyDomain, Registration, RegistrationEvent, User
from registrations.payments import refunds
from registrations.payments.models import Payment
from registrations.seats import queries
from registrations.transitions import Actor, registration_transition
from tests.factories import make_offering, next_date, registration_in

S = Registration.State
Status = Substitution.Status


def paid(registration: Registration) -> Payment:
    return Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        amount_cents=25000,
        idempotency_key=f"test:{uuid.uuid4().hex}",
        paid_at=timezone.now(),
    )


@pytest.fixture
def offering(course):
    return make_offering(course, next_date(7, 8))


@pytest.fixture
def agency(db):
    return AgencyDomain.objects.create(domain="denver911.gov", agency_name="Denver 911")


@pytest.fixture
def staff(db):
    return User.objects.create_user("reviewer", is_staff=True)


def details(**overrides: str) -> dict:
    data = {
        "first_name": "Bea",
        "last_name": "Colleague",
        "email": "",
        "phone": "303-555-0199",
        "role": Registration.Role.DISPATCHER,
        "employer_name": "Denver 911",
        "employer_city": "Denver",
        "employer_state": "CO",
        "supervisor_name": "Sue Visor",
        "supervisor_email": "sue@denver911.gov",
        "accessibility_needs": "Captions, please.",
        "time_zone": "America/Chicago",
    }
    data.update(overrides)
    return data


def ask(registration: Registration, work_email: str = "bea@denver911.gov", **kw) -> Substitution:
    return substitutions.substitution_request(
        registration,
        first_name="Bea",
        last_name="Colleague",
        work_email=work_email,
        actor=kw.pop("actor", Actor.attendee()),
        **kw,
    )


def methods(row: OutboundEmail) -> dict[str, tuple[list[str], list[str]]]:
    """Per iTIP method in a queued email: (UIDs, ATTENDEE addresses)."""
    found = {}
    for attachment in row.attachments:
        calendar = icalendar.Calendar.from_ical(attachment["content"])
        events = list(calendar.walk("VEVENT"))
        found[str(calendar["METHOD"])] = (
            sorted(str(e["UID"]) for e in events),
            sorted({str(e["ATTENDEE"]).removeprefix("mailto:") for e in events}),
        )
    return found


# --- the place passes only on the colleague's eligibility ---------------------------------


@pytest.mark.django_db
def test_a_colleague_on_a_known_domain_takes_the_place_with_payment_and_seat(offering, agency):
    registration = registration_in(S.CONFIRMED, offering, email="ana@example.org")
    payment = paid(registration)
    substitution = ask(registration)
    assert substitution.status == Status.PENDING_EMAIL
    registration.refresh_from_db()
    assert registration.first_name.startswith("Ana")  # nothing passes before eligibility
    invite = OutboundEmail.objects.get(kind=substitutions.INVITE)
    assert invite.to_email == "bea@denver911.gov"
    assert invite.context["confirm_url"] == "[personal link]"  # made when sent

    done = substitutions.substitution_submit(substitution, data=details(email="bea@example.net"))

    assert done.status == Status.COMPLETED and done.completed_at is not None
    registration.refresh_from_db()
    assert (registration.first_name, registration.last_name) == ("Bea", "Colleague")
    assert registration.email == "bea@example.net"
    assert registration.work_email == "bea@denver911.gov"
    assert registration.work_email_confirmed_at == done.work_email_confirmed_at
    assert registration.role == Registration.Role.DISPATCHER
    assert registration.supervisor_email == "sue@denver911.gov"
    assert registration.time_zone == "America/Chicago"
    assert registration.accessibility_needs == "Captions, please."
    assert registration.state == S.CONFIRMED and registration.offering_id == offering.pk
    assert queries.seats_taken(offering) == 1
    payment.refresh_from_db()
    assert payment.registration_id == registration.pk and payment.status == Payment.Status.PAID
    assert done.original_first_name.startswith("Ana")
    assert done.original_email == "ana@example.org"


@pytest.mark.django_db
def test_an_unknown_domain_waits_for_staff_and_passes_only_on_approval(offering, staff):
    registration = registration_in(
        S.CONFIRMED, offering, work_email="ana@psap.example", email="ana@example.org"
    )
    substitution = ask(registration, "bea@psap.example")
    waiting = substitutions.substitution_submit(substitution, data=details())
    assert waiting.status == Status.PENDING_REVIEW
    registration.refresh_from_db()
    assert registration.email == "ana@example.org"  # still the original person's
    assert OutboundEmail.objects.filter(kind="staff_alert").count() == 1

    done = substitutions.substitution_approve(waiting, staff_user=staff)

    assert done.status == Status.COMPLETED and done.decided_by == staff
    registration.refresh_from_db()
    assert registration.email == "bea@psap.example"  # no other address: the work email
    assert registration.first_name == "Bea"


@pytest.mark.django_db
def test_a_rejected_colleague_leaves_the_place_with_its_holder(offering, staff):
    registration = registration_in(S.CONFIRMED, offering, work_email="ana@psap.example")
    waiting = substitutions.substitution_submit(
        ask(registration, "bea@psap.example"), data=details()
    )
    done = substitutions.substitution_reject(waiting, staff_user=staff, reason="Not on staff.")
    assert (done.status, done.decision_reason) == (Status.REJECTED, "Not on staff.")
    registration.refresh_from_db()
    assert registration.work_email == "ana@psap.example"
    told = OutboundEmail.objects.get(kind=substitutions.ENDED)
    assert told.to_email == registration.email and told.context["why"] == "Not on staff."
    with pytest.raises(substitutions.SubstitutionRefused):
        substitutions.substitution_approve(done, staff_user=staff)


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_attendee_deadline_is_the_transfer_deadline_and_staff_may_ask_until_the_start(
    offering, agency
):
    registration = registration_in(S.CONFIRMED, offering)
    start = offering.session_list[0].starts_at
    late = start - timedelta(days=offering.course.transfer_deadline_days) + timedelta(minutes=1)
    with pytest.raises(substitutions.SubstitutionRefused, match="before the first session"):
        ask(registration, now=late)
    staff = User.objects.create_user("admin", is_staff=True)
    made = ask(registration, actor=Actor.staff(staff), now=late)
    assert made.status == Status.PENDING_EMAIL
    assert substitutions.substitution_refusal(
        registration, by_staff=True, now=start + timedelta(minutes=1)
    ).startswith("The class has started")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("work_email", "message"),
    [
        ("bea@gmail.com", "webmail"),
        ("bea@other911.gov", "same agency domain"),
        ("attendee@denver911.gov", "own address"),
    ],
)
def test_a_colleague_must_be_another_person_at_the_same_agency(
    offering, agency, work_email, message
):
    registration = registration_in(S.CONFIRMED, offering, work_email="attendee@denver911.gov")
    with pytest.raises(substitutions.SubstitutionRefused, match=message):
        ask(registration, work_email)
    assert not Substitution.objects.exists()


@pytest.mark.django_db
def test_a_subdomain_counts_only_when_the_same_listed_agency_covers_both(offering, agency):
    listed = registration_in(S.CONFIRMED, offering, work_email="ana@denver911.gov")
    assert ask(listed, "bea@dispatch.denver911.gov").status == Status.PENDING_EMAIL
    unlisted = registration_in(S.CONFIRMED, offering, work_email="cy@psap.example")
    with pytest.raises(substitutions.SubstitutionRefused, match="same agency domain"):
        ask(unlisted, "bea@north.psap.example")


@pytest.mark.django_db
def test_a_colleague_already_registered_in_the_class_is_refused(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    registration_in(S.ELIGIBLE, offering, email="bea@denver911.gov")
    with pytest.raises(substitutions.SubstitutionRefused, match="already has a registration"):
        ask(registration)


@pytest.mark.django_db
def test_only_a_confirmed_place_and_one_open_substitution(offering, agency):
    eligible = registration_in(S.ELIGIBLE, offering)
    with pytest.raises(substitutions.SubstitutionRefused, match="confirmed"):
        ask(eligible)
    other = make_offering(offering.course, next_date(7, 8) + timedelta(days=7))
    in_cancelled = registration_in(S.CONFIRMED, other)
    Offering.objects.filter(pk=other.pk).update(status=Offering.Status.CANCELLED)
    in_cancelled.refresh_from_db()
    with pytest.raises(substitutions.SubstitutionRefused, match="cancelled"):
        ask(Registration.objects.select_related("offering").get(pk=in_cancelled.pk))
    registration = registration_in(S.CONFIRMED, offering)
    first = ask(registration)
    with pytest.raises(substitutions.SubstitutionRefused, match="already been asked"):
        ask(registration, "cy@denver911.gov")
    substitutions.substitution_withdraw(first, actor=Actor.attendee())
    assert ask(registration, "cy@denver911.gov").status == Status.PENDING_EMAIL


@pytest.mark.django_db
def test_an_open_substitution_expires_at_its_deadline(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    substitution = ask(registration)
    deadline = substitutions.deadline_of(substitution)
    assert substitutions.expire_due(deadline - timedelta(minutes=1)) == 0
    assert substitutions.expire_due(deadline) == 1
    assert substitutions.expire_due(deadline) == 0
    substitution.refresh_from_db()
    assert substitution.status == Status.EXPIRED
    assert substitutions.open_substitution(registration, deadline) is None


# --- history, emails, certificate, refund ----------------------------------------------------


@pytest.mark.django_db
def test_history_names_both_people(offering, agency):
    registration = registration_in(S.CONFIRMED, offering, email="ana@example.org")
    original = registration.full_name
    substitutions.substitution_submit(ask(registration), data=details())
    notes = list(
        RegistrationEvent.objects.filter(registration=registration).values_list("reason", flat=True)
    )
    passed = next(n for n in notes if n.startswith("Place passed"))
    assert f"from {original} <ana@example.org> to Bea Colleague <bea@denver911.gov>" in passed
    assert any(n.startswith("Substitution requested by attendee") for n in notes)


@pytest.mark.django_db
def test_the_colleague_gets_a_request_and_the_original_person_a_cancel(offering, agency):
    registration = registration_in(S.CONFIRMED, offering, email="ana@example.org")
    original_name = registration.full_name
    substitutions.substitution_submit(ask(registration), data=details())
    uids = offering.session_list  # one VEVENT per session, in both files
    confirmed = OutboundEmail.objects.get(kind=substitutions.CONFIRMED)
    assert confirmed.to_email == "bea@denver911.gov"
    request_uids, request_attendees = methods(confirmed)["REQUEST"]
    assert request_attendees == ["bea@denver911.gov"] and len(request_uids) == len(uids)
    notice = OutboundEmail.objects.get(kind=substitutions.SUBSTITUTED)
    assert (notice.to_email, notice.to_name) == ("ana@example.org", original_name)
    cancel_uids, cancel_attendees = methods(notice)["CANCEL"]
    assert cancel_attendees == ["ana@example.org"]
    assert cancel_uids == request_uids  # the entries the original invitation made
    assert "manage_url" not in notice.context  # the place is not theirs any more
    content = notice.attachments[0]["content"]
    assert f"CN={original_name}" in content or original_name in content
    assert "ORGANIZER" in content and "Bea" not in content


@pytest.mark.django_db
def test_the_certificate_names_the_colleague(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    substitutions.substitution_submit(ask(registration), data=details())
    registration_transition(
        registration_id=registration.pk, to_state=S.COMPLETED, actor=Actor.system()
    )
    assert issue_certificate(registration.pk).name == "Bea Colleague"


@pytest.mark.django_db
def test_a_refund_after_the_substitution_goes_to_the_original_payment(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    payment = paid(registration)
    substitutions.substitution_submit(ask(registration), data=details())
    refund = refunds.refund_request(payment=payment, amount_cents=5000, reason="Goodwill.")
    assert refund.payment_id == payment.pk
    assert list(Payment.objects.filter(registration=registration)) == [payment]


@pytest.mark.django_db
def test_completing_twice_changes_nothing_more(offering, agency):
    registration = registration_in(S.CONFIRMED, offering)
    done = substitutions.substitution_submit(ask(registration), data=details())
    again = substitutions.substitution_complete(done)
    assert again.status == Status.COMPLETED
    assert OutboundEmail.objects.filter(kind=substitutions.SUBSTITUTED).count() == 1
    assert substitutions.substitution_submit(done, data=details()).status == Status.COMPLETED
