"""A world spanning eight years for the retention and erasure tests (time-machine).

``NOW`` is fixed. Classes end 8 years, 6 years, 13 months, 2 months and 20 days before it, and
one is still to come. Each training record (confirmed, paid) has a phone, accessibility needs, a
supervisor, a pending email, an older course email in its history, a supervisor confirmation and
a phone change in its events, an email to the attendee and one to the supervisor. Unfinished
registrations were last changed 13 and 11 months before ``NOW``. Emails and Stripe events 100 and
80 days old test the body and payload periods. Every person's values are unique words, so a
search of the whole database for them finds only what is meant to stay.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.forms.models import model_to_dict

from courses.models import Offering
from registrations import intake
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration, RegistrationEvent
from registrations.payments.models import Payment, Refund, WebhookEvent
from registrations.transitions import Actor, registration_note, registration_transition
from tests.factories import DENVER, RegistrationFactory, make_offering, registration_in

NOW = datetime(2032, 3, 15, 18, 0, tzinfo=UTC)
DAY = timedelta(days=1)

# Fields that hold personal data (or that retention leaves alone and must stay as they were).
PERSONAL = [
    "first_name", "last_name", "email", "pending_email", "phone", "role", "employer_name",
    "employer_city", "employer_state", "work_email", "supervisor_name", "supervisor_email",
    "accessibility_needs", "time_zone", "attention_reason",
]  # fmt: skip


def travel(moment: datetime):
    return time_machine.travel(moment, tick=False)


def class_ending(course, ago: timedelta) -> Offering:
    """A two-day class whose last session ends about ``ago`` before ``NOW`` (negative: after),
    created 14 months before it ends, registration open from then."""
    last_day = (NOW - ago).astimezone(DENVER).date()
    first_day = last_day - DAY
    created = datetime.combine(first_day, time(9), tzinfo=DENVER) - timedelta(days=425)
    with travel(created):
        return make_offering(course, first_day)


@dataclass
class Person:
    """One registration and the values it was given (for comparisons)."""

    label: str
    pk: int
    original: dict
    values: list[str] = field(default_factory=list)  # personal values to search for
    sensitive: list[str] = field(default_factory=list)  # the sensitive ones among them


@dataclass
class World:
    people: dict[str, Person]
    offerings: dict[str, Offering]
    emails: dict[str, int]
    events: dict[str, int]

    def __getitem__(self, label: str) -> Person:
        return self.people[label]


def person_fields(label: str, n: int) -> dict:
    word = label.capitalize()
    return {
        "first_name": word,
        "last_name": f"{word}son",
        "email": f"{label}.course@example.org",
        "phone": f"303-555-{n:04d}",
        "employer_name": f"{word} County 911",
        "employer_city": "Denver",
        "employer_state": "CO",
        "work_email": f"{label}.work@{label}911.gov",
        "supervisor_name": f"Sam {word}visor",
        "supervisor_email": f"sam.{label}@{label}911.gov",
        "accessibility_needs": f"Interpreter-{word} please",
        "time_zone": "America/Denver",
    }


def make_person(world: World, label: str, n: int, registration: Registration) -> Person:
    data = person_fields(label, n)
    values = [
        data["first_name"], data["last_name"], data["email"], data["phone"],
        data["employer_name"], data["work_email"], data["supervisor_name"],
        data["supervisor_email"], data["accessibility_needs"], f"{label}.old@example.org",
        f"{label}.pending@example.org", f"720-555-{n:04d}",
    ]  # fmt: skip
    sensitive = [
        data["phone"], data["supervisor_name"], data["supervisor_email"],
        data["accessibility_needs"], f"720-555-{n:04d}",
    ]  # fmt: skip
    registration.refresh_from_db()
    person = Person(label, registration.pk, snapshot(registration.pk), values, sensitive)
    world.people[label] = person
    return person


def with_history(registration: Registration, label: str, n: int, admin_user) -> None:
    """An older course email in the history, a pending email, a phone change and a supervisor
    confirmation in the events, an admin log entry."""
    registration.email = f"{label}.course@example.org"
    registration.pending_email = f"{label}.pending@example.org"
    registration.save()
    old_phone, new_phone = f"720-555-{n:04d}", f"303-555-{n:04d}"
    Registration.objects.filter(pk=registration.pk).update(phone=old_phone)
    intake.details_update(
        registration,
        first_name=registration.first_name,
        last_name=registration.last_name,
        phone=new_phone,
    )
    registration.refresh_from_db()
    registration_note(
        registration,
        actor=Actor.supervisor(),
        reason=f"Confirmed by supervisor {registration.supervisor_name} "
        f"<{registration.supervisor_email}> (Denver 911).",
    )
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Registration),
        object_id=str(registration.pk),
        object_repr=str(registration),
        action_flag=CHANGE,
        change_message=json.dumps([{"changed": {"fields": ["Phone"]}}]),
    )


def paid(registration: Registration, *, refund: bool = False) -> Payment:
    """A paid payment (and a refund) with Stripe ids made of the registration's id."""
    key = registration.pk
    payment = Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        amount_cents=25000,
        idempotency_key=f"pay-{key}",
        stripe_checkout_session_id=f"cs_test_{key}",
        stripe_payment_intent_id=f"pi_test_{key}",
    )
    if refund:
        Refund.objects.create(
            payment=payment,
            amount_cents=5000,
            status=Refund.Status.SUCCEEDED,
            reason=f"Goodwill: {registration.first_name} asked by phone, "
            f"{registration.phone}, from {registration.email}.",
            idempotency_key=f"refund-{key}",
            stripe_refund_id=f"re_test_{key}",
        )
    return payment


def email_row(registration: Registration | None, key: str, to: str, name: str, text: str,
              **extra) -> OutboundEmail:  # fmt: skip
    return OutboundEmail.objects.create(
        kind="test",
        dedupe_key=key,
        registration=registration,
        to_email=to,
        to_name=name,
        template="emails/test",
        context={"note": text},
        attachments=[{"filename": "a.txt", "content_type": "text/plain", "content": text}],
        subject=f"Message: {name}",
        text_body=text,
        html_body=f"<p>{text}</p>",
        status=extra.pop("status", OutboundEmail.Status.SENT),
        **extra,
    )


def stripe_event(event_id: str, email: str, session: str) -> WebhookEvent:
    return WebhookEvent.objects.create(
        stripe_event_id=event_id,
        type="checkout.session.completed",
        payload={
            "id": event_id,
            "data": {"object": {"id": session, "customer_details": {"email": email}}},
        },
        outcome=WebhookEvent.Outcome.PROCESSED,
    )


def snapshot(pk: int) -> dict:
    """The registration's personal fields and stamps."""
    return Registration.objects.filter(pk=pk).values(
        *PERSONAL, "sensitive_details_removed_at", "anonymised_at", "state", "updated_at"
    )[0]


def database_text() -> str:
    """Every stored value that could hold personal data, as one text (for searching)."""
    rows: list = []
    for model in (Registration, Registration.history.model, RegistrationEvent, OutboundEmail,
                  LogEntry, Refund, Refund.history.model, WebhookEvent):  # fmt: skip
        rows.extend(model_to_dict(row) for row in model.objects.all())
    return json.dumps(rows, default=str).lower()


def database_state() -> list:
    """Everything retention may touch, for comparing two runs."""
    state = []
    for model in (Registration, Registration.history.model, RegistrationEvent, OutboundEmail,
                  LogEntry, Payment, Refund, Refund.history.model, WebhookEvent):  # fmt: skip
        state.append([model_to_dict(row) for row in model.objects.order_by("pk")])
    return state


TRAINING = {  # label: how long before NOW the class ended
    "alpha": timedelta(days=8 * 365),
    "bravo": timedelta(days=6 * 365),
    "charlie": timedelta(days=395),
    "delta": timedelta(days=61),
    "echo": timedelta(days=20),
    "foxtrot": timedelta(days=-30),
}


@pytest.fixture
def world(course, django_user_model) -> World:
    """The eight-year world (see the module docstring); the clock is back to normal after."""
    admin_user = django_user_model.objects.create_user("auditor", is_staff=True)
    world = World({}, {}, {}, {})
    for n, (label, ago) in enumerate(TRAINING.items(), start=1):
        offering = class_ending(course, ago)
        world.offerings[label] = offering
        end = offering.ends_at()
        with travel(min(end, NOW) - timedelta(days=40)):
            registration = registration_in(
                Registration.State.CONFIRMED, offering,
                **{**person_fields(label, n), "email": f"{label}.old@example.org"},
            )  # fmt: skip
            with_history(registration, label, n, admin_user)
            paid(registration, refund=label == "alpha")
        with travel(min(end, NOW) - timedelta(days=10)):
            email_row(registration, f"attendee:{registration.pk}", registration.email,
                      registration.full_name, f"Hello {registration.first_name}")  # fmt: skip
            email_row(registration, f"supervisor:{registration.pk}", registration.supervisor_email,
                      registration.supervisor_name,
                      f"Dear {registration.supervisor_name}, does {registration.first_name} "
                      "work with you?")  # fmt: skip
            stripe_event(  # "evt_r…": never the same id as the dated events' "evt_<days>"
                f"evt_r{registration.pk}", registration.email, f"cs_test_{registration.pk}"
            )
        make_person(world, label, n, registration)

    # Unfinished: cancelled after paying (13 months ago), never confirmed its email (14 months
    # ago), both for the class that ended 13 months ago; rejected 11 months ago for the class that
    # ended 20 days ago; eligible but unpaid, last changed 13 months ago, for the class to come.
    charlie, echo, foxtrot = (world.offerings[k] for k in ("charlie", "echo", "foxtrot"))
    with travel(charlie.ends_at() - timedelta(days=60)):
        golf = registration_in(Registration.State.CONFIRMED, charlie, **person_fields("golf", 7))
        with_history(golf, "golf", 7, admin_user)
        paid(golf, refund=True)
    with travel(NOW - timedelta(days=396)):
        registration_transition(
            registration_id=golf.pk, to_state="cancelled", actor=Actor.attendee()
        )
    make_person(world, "golf", 7, golf)
    with travel(NOW - timedelta(days=425)):
        hotel = RegistrationFactory(offering=charlie, **person_fields("hotel", 8))
    make_person(world, "hotel", 8, hotel)
    with travel(NOW - timedelta(days=335)):
        india = RegistrationFactory(offering=echo, **person_fields("india", 9))
        for state in ("pending_review", "rejected"):
            registration_transition(registration_id=india.pk, to_state=state, actor=Actor.system())
    make_person(world, "india", 9, india)
    with travel(NOW - timedelta(days=390)):
        juliet = registration_in(
            Registration.State.ELIGIBLE, foxtrot, **person_fields("juliet", 10)
        )
    make_person(world, "juliet", 10, juliet)

    # Emails and Stripe events about nobody in particular, 100 and 80 days old.
    for days in (100, 80):
        with travel(NOW - timedelta(days=days)):
            world.emails[f"{days}"] = email_row(
                None, f"old:{days}", f"someone{days}@example.org", "Someone", f"Body {days}"
            ).pk
            world.events[f"{days}"] = stripe_event(
                f"evt_{days}", f"payer{days}@example.org", f"cs_test_{days}"
            ).pk
    return world
