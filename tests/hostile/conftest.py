"""The hostile-text suite's profile and world.

``HOSTILE`` is the Hypothesis profile of every test here: derandomised (the same examples on every
run, so CI is reproducible and a failure is replayed by running the test again), no deadline
(the machine is shared), no example database, and ``max_examples`` from
``CITREG_HOSTILE_EXAMPLES`` (default 20, which keeps ``tests/hostile`` to about two minutes on
two cores; raise it locally for a deeper search, e.g. ``CITREG_HOSTILE_EXAMPLES=200``). Each
example is one transaction, rolled back, so examples do not see each other's rows.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings

from registrations.models import Broadcast, PolicyPage, Registration, RegistrationEvent
from registrations.payments import stripe_gateway
from registrations.payments.models import Payment, Refund
from tests.factories import registration_in
from tests.hostile.registry import StripeRecorder, World
from tests.registrations.helpers import open_offering

settings.register_profile(
    "hostile",
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=int(os.environ.get("CITREG_HOSTILE_EXAMPLES", "20")),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
HOSTILE = settings.get_profile("hostile")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hostile: property-based tests of typed text on every surface (tests/hostile)"
    )


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example's transaction: whatever it writes is undone when it ends."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture
def world(course, django_user_model, monkeypatch) -> World:
    """The rows renderers read (``registry.World``), with Stripe's client replaced by a
    recorder (``registry.StripeRecorder``)."""
    course.save()  # a first version in the audit history (``loaddata`` records none)
    offering = open_offering(course)
    offering.meeting_url = "https://meet.example.org/cit"
    offering.save(update_fields=["meeting_url"])
    now = timezone.now()
    attendee = registration_in(
        Registration.State.CONFIRMED,
        offering,
        email="ana@denver911.example.gov",
        work_email="ana.work@denver911.example.gov",
        time_zone="America/New_York",
    )
    Registration.objects.filter(pk=attendee.pk).update(
        pending_email="ana.new@denver911.example.gov",
        hold_expires_at=now + timedelta(hours=20),
        waitlisted_at=now - timedelta(days=1),
    )
    payer = registration_in(Registration.State.ELIGIBLE, offering, email="bo@denver911.example.gov")
    payment = Payment.objects.create(
        registration=attendee,
        status=Payment.Status.PAID,
        amount_cents=course.tuition_cents,
        currency=course.currency,
        idempotency_key="checkout:hostile",
        nonce="n" * 43,
        stripe_checkout_session_id="cs_test_hostile",
        stripe_payment_intent_id="pi_test_hostile",
        paid_at=now,
    )
    refund = Refund.objects.create(
        payment=payment, amount_cents=1000, reason="Moved", idempotency_key="refund:hostile"
    )
    event = RegistrationEvent.objects.create(
        registration=attendee, actor=RegistrationEvent.Actor.STAFF, reason="A note."
    )
    broadcast = Broadcast.objects.create(
        offering=offering, audience=Broadcast.Audience.CONFIRMED, subject="Hello", body="Body"
    )
    superuser = django_user_model.objects.create_superuser("hostile-root", "root@example.org", "pw")
    admin_client = Client()
    admin_client.force_login(superuser)
    world = World(
        course=course,
        offering=offering,
        attendee=attendee,
        payer=payer,
        payment=payment,
        refund=refund,
        event=event,
        broadcast=broadcast,
        terms=PolicyPage.objects.get(slug=PolicyPage.Slug.TERMS),
        privacy=PolicyPage.objects.get(slug=PolicyPage.Slug.PRIVACY),
        client=Client(),
        admin=admin_client,
        superuser=superuser,
    )
    monkeypatch.setattr(stripe_gateway, "_client", lambda: StripeRecorder(world.stripe_calls))
    world.refresh()
    return world
