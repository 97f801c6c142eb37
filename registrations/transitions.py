"""The only way a Registration changes state.

``TRANSITIONS`` is the state table of ``docs/architecture.md``; ``registration_transition`` locks
the row, checks the table, records who/why/when in ``RegistrationEvent``, and returns early when
the registration is already in the target state (so running a step twice has the effect of
running it once).
"""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from .enums import ActorKind
from .enums import RegistrationState as S
from .models import Registration, RegistrationEvent

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_EMAIL: frozenset({S.PENDING_REVIEW, S.ELIGIBLE, S.CANCELLED}),
    S.PENDING_REVIEW: frozenset({S.ELIGIBLE, S.REJECTED, S.CANCELLED}),
    S.ELIGIBLE: frozenset({S.HELD, S.WAITLISTED, S.CANCELLED}),
    S.WAITLISTED: frozenset({S.HELD, S.CANCELLED}),
    S.HELD: frozenset({S.CONFIRMED, S.PROCESSING, S.EXPIRED, S.CANCELLED}),
    S.PROCESSING: frozenset({S.CONFIRMED, S.EXPIRED}),
    S.EXPIRED: frozenset(
        {S.HELD, S.WAITLISTED, S.PROCESSING, S.CONFIRMED, S.REFUNDED, S.CANCELLED}
    ),
    S.CONFIRMED: frozenset({S.COMPLETED, S.CANCELLED, S.REFUNDED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}


# The usual way from a new registration (``pending_email``) to each state, along ``TRANSITIONS``:
# for demo data and tests that need a registration in a given state with a true history.
USUAL_PATHS: dict[str, tuple[str, ...]] = {
    S.PENDING_EMAIL: (),
    S.PENDING_REVIEW: (S.PENDING_REVIEW,),
    S.ELIGIBLE: (S.ELIGIBLE,),
    S.WAITLISTED: (S.ELIGIBLE, S.WAITLISTED),
    S.HELD: (S.ELIGIBLE, S.HELD),
    S.PROCESSING: (S.ELIGIBLE, S.HELD, S.PROCESSING),
    S.CONFIRMED: (S.ELIGIBLE, S.HELD, S.CONFIRMED),
    S.COMPLETED: (S.ELIGIBLE, S.HELD, S.CONFIRMED, S.COMPLETED),
    S.EXPIRED: (S.ELIGIBLE, S.HELD, S.EXPIRED),
    S.REFUNDED: (S.ELIGIBLE, S.HELD, S.CONFIRMED, S.REFUNDED),
    S.REJECTED: (S.PENDING_REVIEW, S.REJECTED),
    S.CANCELLED: (S.ELIGIBLE, S.CANCELLED),
}


class IllegalTransition(Exception):  # noqa: N818 — the domain's name for it
    """A state change the transition table does not allow, e.g. ``rejected → eligible``.

    Attributes: ``registration_id``, ``from_state``, ``to_state``.
    """

    def __init__(self, registration_id: int, from_state: str, to_state: str):
        self.registration_id = registration_id
        self.from_state = from_state
        self.to_state = to_state
        super().__init__(
            f"Registration {registration_id} cannot go from {from_state} to {to_state}."
        )


@dataclass(frozen=True)
class Actor:
    """Who made a change: ``kind`` is an ``ActorKind`` value; ``user`` for staff."""

    kind: str
    user: User | None = None

    @classmethod
    def system(cls) -> "Actor":
        return cls(ActorKind.SYSTEM)

    @classmethod
    def attendee(cls) -> "Actor":
        return cls(ActorKind.ATTENDEE)

    @classmethod
    def supervisor(cls) -> "Actor":
        return cls(ActorKind.SUPERVISOR)

    @classmethod
    def staff(cls, user: User) -> "Actor":
        return cls(ActorKind.STAFF, user)


@dataclass(frozen=True)
class TransitionResult:
    """``registration`` after the call (locked row, re-read); ``changed`` is False when it was
    already in the target state."""

    registration: Registration
    changed: bool


def registration_transition(
    *, registration_id: int, to_state: str, actor: Actor, reason: str = "", **fields: object
) -> TransitionResult:
    """Move a registration to ``to_state`` if the table allows it.

    Args:
        registration_id: the registration's primary key.
        to_state: a ``Registration.State`` value.
        actor: who is acting (attendee, supervisor, staff user, system).
        reason: recorded in the history (e.g. a rejection reason).
        **fields: other Registration fields to set in the same save (e.g.
            ``work_email_confirmed_at``).

    Returns: a ``TransitionResult``; ``changed`` False when already in ``to_state`` (nothing
    written).

    Raises:
        IllegalTransition: when the table has no ``current → to_state`` edge.
        Registration.DoesNotExist: for an unknown id.
    """
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration_id)
        current = registration.state
        if current == to_state:
            return TransitionResult(registration, changed=False)
        if to_state not in TRANSITIONS[current]:
            raise IllegalTransition(registration_id, current, to_state)
        registration.state = to_state
        for name, value in fields.items():
            setattr(registration, name, value)
        registration.save(update_fields=["state", "updated_at", *fields])
        RegistrationEvent.objects.create(
            registration=registration,
            from_state=current,
            to_state=to_state,
            actor=actor.kind,
            staff_user=actor.user,
            reason=reason,
        )
    return TransitionResult(registration, changed=True)


def registration_note(registration: Registration, *, actor: Actor, reason: str) -> None:
    """Record an event that is not a state change (e.g. "course email changed")."""
    RegistrationEvent.objects.create(
        registration=registration, actor=actor.kind, staff_user=actor.user, reason=reason
    )
