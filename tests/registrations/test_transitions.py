"""``registrations.transitions``: the state table, walked edge by edge, and the history."""

import pytest
from django.utils import timezone

from courses.models import Offering
from registrations import transitions
from registrations.enums import RegistrationState
from registrations.models import Registration, RegistrationEvent
from registrations.transitions import TRANSITIONS, Actor, IllegalTransition, registration_transition
from tests.factories import RegistrationFactory
from tests.registrations.helpers import form_data, open_offering

S = Registration.State


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.django_db
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


EDGES = [(a, b) for a in RegistrationState for b in RegistrationState]


@pytest.mark.django_db
@pytest.mark.parametrize(("from_state", "to_state"), EDGES, ids=[f"{a}->{b}" for a, b in EDGES])
def test_every_edge_of_the_table(offering, from_state, to_state):
    assert set(TRANSITIONS) == set(RegistrationState)  # every state has a row
    registration = RegistrationFactory(offering=offering)
    Registration.objects.filter(pk=registration.pk).update(state=from_state)
    before = Registration.objects.get(pk=registration.pk)

    def call():
        return registration_transition(
            registration_id=registration.pk, to_state=to_state, actor=Actor.system()
        )

    if from_state == to_state:
        result = call()
        assert not result.changed and result.registration.state == from_state
    elif to_state in TRANSITIONS[from_state]:
        result = call()
        assert result.changed and result.registration.state == to_state
        assert Registration.objects.get(pk=registration.pk).state == to_state
        [event] = RegistrationEvent.objects.filter(registration=registration)
        assert (event.from_state, event.to_state, event.actor) == (from_state, to_state, "system")
        return
    else:
        with pytest.raises(IllegalTransition) as error:
            call()
        assert (error.value.registration_id, error.value.from_state, error.value.to_state) == (
            registration.pk, from_state, to_state,
        )  # fmt: skip
    after = Registration.objects.get(pk=registration.pk)
    assert (after.state, after.updated_at) == (from_state, before.updated_at)
    assert not RegistrationEvent.objects.filter(registration=registration).exists()


def test_every_usual_path_follows_the_table():
    for target, path in transitions.USUAL_PATHS.items():
        current = Registration.State.PENDING_EMAIL
        for step in path:
            assert step in transitions.TRANSITIONS[current], (target, current, step)
            current = step
        assert current == target
    assert set(transitions.USUAL_PATHS) == set(transitions.TRANSITIONS)
