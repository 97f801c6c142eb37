"""``registrations.privacy.erasure``: erasing a person on request leaves the financial and
training record, removes the rest everywhere, writes the audit, and refuses while a
registration is active."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration, RegistrationEvent
from registrations.payments.models import Payment, Refund, WebhookEvent
from registrations.privacy import erasure
from registrations.transitions import Actor, registration_transition
from tests.factories import make_offering, registration_in
from tests.registrations.helpers import open_offering

from .conftest import (
    World,
    database_state,
    database_text,
    email_row,
    make_person,
    paid,
    person_fields,
    snapshot,
    stripe_event,
    travel,
    with_history,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("privacy.officer", is_staff=True)


@pytest.fixture
def person(course, staff) -> World:
    """One person (course email kilo@…) with a training record of a class that ended a year
    ago (paid, refunded in part, emails and a Stripe event 20 days old: inside every period)
    and a cancelled registration for a class to come, written in capitals."""
    world = World({}, {}, {}, {})
    now = timezone.now()
    past = make_offering(
        course, (now - timedelta(days=366)).date(), registration_opens_at=now - timedelta(days=400)
    )
    upcoming = open_offering(course)
    with travel(now - timedelta(days=380)):
        record = registration_in(Registration.State.CONFIRMED, past, **person_fields("kilo", 11))
        with_history(record, "kilo", 11, staff)
        paid(record, refund=True)
    with travel(now - timedelta(days=20)):
        email_row(record, f"attendee:{record.pk}", record.email, record.full_name, "Hello Kilo")
        email_row(record, f"supervisor:{record.pk}", record.supervisor_email,
                  record.supervisor_name, f"Dear {record.supervisor_name}")  # fmt: skip
        stripe_event(f"evt_{record.pk}", record.email, f"cs_test_{record.pk}")
    make_person(world, "kilo", 11, record)
    cancelled = registration_in(
        Registration.State.ELIGIBLE, upcoming,
        **{**person_fields("kilo", 11), "email": "KILO.Course@Example.org"},
    )  # fmt: skip
    registration_transition(
        registration_id=cancelled.pk, to_state="cancelled", actor=Actor.attendee()
    )
    world.people["cancelled"] = make_person(World({}, {}, {}, {}), "kilo", 11, cancelled)
    world.offerings.update(past=past, upcoming=upcoming)
    return world


def test_the_plan_lists_every_registration_of_the_email(person):
    plan = erasure.erasure_plan(" kilo.course@EXAMPLE.org ")
    assert [(p.registration.pk, p.treatment) for p in plan] == [
        (person["kilo"].pk, erasure.Treatment.KEEP_TRAINING_RECORD),
        (person["cancelled"].pk, erasure.Treatment.ANONYMISE),
    ]
    [payment] = plan[0].payments
    assert payment.stripe_checkout_session_id == f"cs_test_{person['kilo'].pk}"
    assert plan[0].keep_until == plan[0].class_ends_at + timedelta(days=2557)


def test_erasure_leaves_the_financial_and_training_record(person, staff):
    payments = list(Payment.objects.values())
    refunds = list(Refund.objects.values("amount_cents", "stripe_refund_id", "payment"))
    kilo, cancelled = person["kilo"], person["cancelled"]

    result = erasure.erase_person("kilo.course@example.org", staff_user=staff)

    assert result == erasure.ErasureResult(
        anonymised=[cancelled.pk], training_records_kept=[kilo.pk], unchanged=[]
    )
    # The training record: name, course email, agency, role stay; the rest goes.
    erased = f"erased-{kilo.pk}@erased.invalid"
    after = snapshot(kilo.pk)
    assert after == {
        **kilo.original,
        "phone": "", "accessibility_needs": "", "supervisor_name": "", "supervisor_email": "",
        "pending_email": "", "time_zone": "", "work_email": erased,
        "sensitive_details_removed_at": after["sensitive_details_removed_at"],
    }  # fmt: skip
    assert after["sensitive_details_removed_at"] is not None and after["anonymised_at"] is None
    # The unfinished one: anonymised.
    assert snapshot(cancelled.pk)["first_name"] == "Erased"
    assert snapshot(cancelled.pk)["anonymised_at"] is not None

    text = database_text()
    for value in ("kilo.work@kilo911.gov", "kilo.pending@example.org", "kilo.old@example.org",
                  *kilo.sensitive):  # fmt: skip
        assert value.lower() not in text, value
    for value in ("Kilo", "Kiloson", "kilo.course@example.org", "Kilo County 911"):
        assert value.lower() in text  # the training record
    # Payments and refunds as they were.
    assert list(Payment.objects.values()) == payments
    assert list(Refund.objects.values("amount_cents", "stripe_refund_id", "payment")) == refunds
    # Every email body goes (even recent ones); the Stripe event of the payment loses its payload.
    for row in OutboundEmail.objects.filter(registration=kilo.pk):
        assert (row.text_body, row.context, row.attachments) == ("", {}, [])
    supervisor = OutboundEmail.objects.get(dedupe_key=f"supervisor:{kilo.pk}")
    assert supervisor.to_email == erased
    event = WebhookEvent.objects.get(stripe_event_id=f"evt_{kilo.pk}")
    assert event.payload == {} and event.payload_removed_at is not None
    # The audit: a history row by the staff user, and a note on each registration.
    for pk in (kilo.pk, cancelled.pk):
        last = Registration.history.filter(id=pk).first()
        assert last.history_user == staff
        assert last.history_change_reason == "Personal data erased on request"
        note = RegistrationEvent.objects.filter(registration=pk).last()
        assert note.reason.startswith("Personal data erased on request by privacy.officer.")
        assert (note.actor, note.staff_user) == ("staff", staff)
    assert "is kept until" in RegistrationEvent.objects.filter(registration=kilo.pk).last().reason


def test_erasing_twice_changes_nothing_more(person, staff):
    erasure.erase_person("kilo.course@example.org", staff_user=staff)
    state = database_state()

    result = erasure.erase_person("kilo.course@example.org", staff_user=staff)

    assert result.unchanged == [person["kilo"].pk]  # the anonymised one has another email now
    assert database_state() == state
    assert [p.treatment for p in erasure.erasure_plan("kilo.course@example.org")] == [
        erasure.Treatment.DONE
    ]


def test_an_active_registration_refuses_the_whole_erasure(person, staff):
    active = registration_in(
        Registration.State.CONFIRMED,
        make_offering(
            person.offerings["upcoming"].course,
            timezone.now().date() + timedelta(days=90),
            evening=True,
        ),
        **{**person_fields("kilo", 11), "email": "kilo.course@example.org"},
    )
    state = database_state()

    with pytest.raises(erasure.ErasureRefused, match="Cancel them first") as refused:
        erasure.erase_person("Kilo.Course@example.org", staff_user=staff)

    assert refused.value.registration_ids == (active.pk,)
    assert database_state() == state


def test_an_unknown_email_is_refused(db, staff):
    with pytest.raises(erasure.ErasureRefused, match="No registration uses this course email"):
        erasure.erase_person("nobody@example.org", staff_user=staff)
