"""Row locks, taken by code in one order: offering, then payment, then registration.

Every service that locks more than one row calls ``lock_rows``. Taking the locks in one order
everywhere is what keeps PostgreSQL from deadlocking when a cancellation, a webhook and the hold
sweeper meet on the same class (pretix ``services/locking.py`` does the same for its quotas).
"""

from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models

from courses.models import Offering

from .models import Registration

# Model labels in lock order; rows of one model are locked in primary-key order.
LOCK_ORDER = ("courses.offering", "registrations.payment", "registrations.registration")


class LockOutsideTransaction(RuntimeError):
    """A lock was asked for outside ``transaction.atomic``: it would end at once."""


@dataclass(frozen=True)
class Locked:
    """The rows ``lock_rows`` locked (None for the ones not asked for)."""

    offering: Offering | None
    payment: models.Model | None  # a registrations.payments.models.Payment
    registration: Registration | None


def _lock(label: str, pk: int | None) -> models.Model | None:
    if pk is None:
        return None
    # By label: the payment model lives in a package above this module.
    model = apps.get_model(label)
    return model._default_manager.select_for_update().get(pk=pk)


def lock_rows(
    *,
    offering_id: int | None = None,
    payment_id: int | None = None,
    registration_id: int | None = None,
) -> Locked:
    """Lock the given rows (``SELECT … FOR UPDATE``) in the lock order and return them re-read.

    Args: primary keys of an ``Offering``, a ``Payment`` and a ``Registration``; leave out the
        ones not needed. The caller passes the ids that belong together (the payment's
        registration, the registration's offering).

    Raises:
        LockOutsideTransaction: when not inside ``transaction.atomic``.
        DoesNotExist: of the model whose row is missing.
    """
    if not connection.in_atomic_block:
        raise LockOutsideTransaction("lock_rows() must run inside transaction.atomic().")
    ids = dict(zip(LOCK_ORDER, (offering_id, payment_id, registration_id), strict=True))
    offering, payment, registration = (_lock(label, ids[label]) for label in LOCK_ORDER)
    assert offering is None or isinstance(offering, Offering)
    assert registration is None or isinstance(registration, Registration)
    return Locked(offering, payment, registration)


def lock_seat(registration: Registration) -> tuple[Offering, Registration]:
    """Lock a registration's offering and then the registration (every seat change starts
    here) and return both re-read.

    Raises: LockOutsideTransaction; Registration.DoesNotExist.
    """
    locked = lock_rows(offering_id=registration.offering_id, registration_id=registration.pk)
    assert locked.offering is not None and locked.registration is not None
    return locked.offering, locked.registration


class RegistrationMoved(RuntimeError):
    """The registration changed class between reading it and locking it: ask again."""


def lock_move(
    registration_id: int, target_offering_id: int
) -> tuple[Offering, Offering, Registration]:
    """Lock the two classes of a move to another class, lowest primary key first, then the
    registration, and return (current class, target class, registration) re-read.

    Two moves between the same pair of classes, in either direction, take the offering locks in
    the same order, so they queue instead of deadlocking; the registration comes last, as in
    ``LOCK_ORDER``.

    Raises:
        LockOutsideTransaction: when not inside ``transaction.atomic``.
        RegistrationMoved: the registration's class changed before its lock was taken.
        Registration.DoesNotExist / Offering.DoesNotExist: for an unknown id.
    """
    if not connection.in_atomic_block:
        raise LockOutsideTransaction("lock_move() must run inside transaction.atomic().")
    current_id = Registration.objects.values_list("offering_id", flat=True).get(pk=registration_id)
    offerings = {
        pk: Offering.objects.select_for_update().get(pk=pk)
        for pk in sorted({current_id, target_offering_id})
    }
    registration = Registration.objects.select_for_update().get(pk=registration_id)
    if registration.offering_id != current_id:
        raise RegistrationMoved(f"Registration {registration_id} changed class meanwhile.")
    return offerings[current_id], offerings[target_offering_id], registration
