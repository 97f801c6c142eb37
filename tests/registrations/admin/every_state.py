"""A class with one registration in every state (and a live and a lapsed hold), built through
the state table, for the dashboard's and the roster's tests."""

import uuid
from datetime import date, timedelta

from django.utils import timezone

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments.models import Payment
from registrations.transitions import USUAL_PATHS, Actor, registration_transition
from tests.factories import RegistrationFactory, make_offering

S = Registration.State


def in_state(offering, state: str, **fields) -> Registration:
    """A registration of ``offering`` moved to ``state`` along ``USUAL_PATHS``."""
    registration = RegistrationFactory(offering=offering, **fields)
    for step in USUAL_PATHS[state]:
        registration_transition(
            registration_id=registration.pk, to_state=step, actor=Actor.system()
        )
    return Registration.objects.get(pk=registration.pk)


def paid(registration: Registration, cents: int = 25000, refunded: int = 0) -> Payment:
    """A paid payment of ``cents`` for ``registration``, ``refunded`` of it refunded."""
    return Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        amount_cents=cents,
        amount_refunded_cents=refunded,
        idempotency_key=f"test:{uuid.uuid4().hex}",
        paid_at=timezone.now(),
    )


def failed_email(registration: Registration | None = None) -> OutboundEmail:
    """An outbox row that failed for good."""
    return OutboundEmail.objects.create(
        kind="staff_alert",
        dedupe_key=f"test:{uuid.uuid4().hex}",
        registration=registration,
        to_email="office@example.org",
        template="emails/staff_alert",
        status=OutboundEmail.Status.FAILED,
        last_error="550 mailbox unavailable",
    )


def every_state(course, first_day: date, *, capacity: int = 20):
    """A class on ``first_day`` with one registration in each state, a second waitlisted one,
    a live hold (the ``held`` one, 30 minutes left) and a lapsed one; the confirmed attendee
    has paid $250.00 with $50.00 refunded, the completed one $250.00; the processing one is
    flagged for attention. Returns (offering, {state: registration}, lapsed hold)."""
    offering = make_offering(course, first_day, capacity=capacity)
    people = {
        state: in_state(offering, state, first_name=f"P-{state}", last_name=f"L-{state}")
        for state in USUAL_PATHS
    }
    now = timezone.now()
    Registration.objects.filter(pk=people[S.HELD].pk).update(
        hold_expires_at=now + timedelta(minutes=30)
    )
    lapsed = in_state(offering, S.HELD, first_name="Lapsed", last_name="Hold")
    Registration.objects.filter(pk=lapsed.pk).update(hold_expires_at=now - timedelta(minutes=1))
    in_state(offering, S.WAITLISTED, first_name="Second", last_name="Waiting")
    paid(people[S.CONFIRMED], refunded=5000)
    paid(people[S.COMPLETED])
    Registration.objects.filter(pk=people[S.PROCESSING].pk).update(
        needs_attention=True, attention_reason="Disputed payment: $250.00."
    )
    return offering, people, lapsed
