"""The lock helper: one order (offering, payment, registration), only inside a transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registrations.enums import RegistrationState as S
from registrations.locking import LockOutsideTransaction, lock_rows, lock_seat
from registrations.payments.models import Payment
from tests.factories import registration_in
from tests.registrations.helpers import open_offering


@pytest.mark.django_db(transaction=True)
def test_refuses_to_lock_outside_a_transaction(course):
    registration = registration_in(S.ELIGIBLE, open_offering(course))
    with pytest.raises(LockOutsideTransaction):
        lock_rows(registration_id=registration.pk)
    with pytest.raises(LockOutsideTransaction):
        lock_seat(registration)


@pytest.mark.django_db
def test_takes_offering_then_payment_then_registration(course):
    registration = registration_in(S.HELD, open_offering(course))
    payment = Payment.objects.create(
        registration=registration, amount_cents=25000, idempotency_key="lock-order"
    )
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = lock_rows(
            registration_id=registration.pk, payment_id=payment.pk,
            offering_id=registration.offering_id,
        )  # fmt: skip
    tables = [
        next(
            t
            for t in ("courses_offering", "registrations_payment", "registrations_registration")
            if f'FROM "{t}"' in q["sql"]
        )  # fmt: skip
        for q in queries.captured_queries
    ]
    assert tables == ["courses_offering", "registrations_payment", "registrations_registration"]
    assert all("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
    assert (locked.offering.pk, locked.payment.pk, locked.registration.pk) == (
        registration.offering_id, payment.pk, registration.pk,
    )  # fmt: skip


@pytest.mark.django_db
def test_locks_only_what_is_asked(course):
    registration = registration_in(S.ELIGIBLE, open_offering(course))
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        offering, locked = lock_seat(registration)
    assert len(queries.captured_queries) == 2
    assert offering.pk == registration.offering_id and locked.pk == registration.pk
