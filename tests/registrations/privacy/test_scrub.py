"""``registrations.privacy.scrub``: free text loses every value the person had, and nothing else;
scrubbing twice changes nothing more; a scope applied twice writes nothing the second time."""

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registrations.changes.models import Substitution
from registrations.models import Registration, RegistrationEvent
from registrations.privacy import scrub
from registrations.transitions import Actor
from tests.factories import RegistrationFactory
from tests.registrations.helpers import open_offering

WORD = "abcdefghijklmnopqrstuvwxyzÁÉñøßçАБВ0123456789"
# Names, addresses and numbers as people write them: they begin and end with a letter or digit.
values = st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from(WORD),
    st.text(alphabet=WORD + ".@-' +", max_size=30),
    st.sampled_from(WORD),
)
separators = st.sampled_from([" ", "\n", ", ", " (", ") ", " <", "> ", ": ", "'"])


def whole_word(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


@given(value=values, before=st.text(), after=st.text(), left=separators, right=separators)
def test_a_value_is_removed_wherever_it_stands_as_a_word(value, before, after, left, right):
    assume(scrub._usable(value))
    text = before + left + value + right + after
    scrubbed = scrub.text_scrubber([value])(text)
    assert not whole_word(value, scrubbed)
    assert "[removed]" in scrubbed
    assert scrub.text_scrubber([value])(scrubbed) == scrubbed


@given(value=values, text=st.text())
def test_text_without_the_value_is_left_alone(value, text):
    assume(scrub._usable(value) and not whole_word(value, text))
    assert scrub.text_scrubber([value])(text) == text


@given(names=st.lists(values, min_size=1, max_size=4), text=st.text())
def test_scrubbing_twice_changes_nothing_more(names, text):
    scrubber = scrub.text_scrubber(names, any_email=True, phone_changes=True)
    once = scrubber(text)
    assert scrubber(once) == once


def test_full_names_go_before_their_parts_and_words_inside_words_stay():
    scrubber = scrub.text_scrubber(["Ana", "Ana Lopez", "Lopez"])
    assert (
        scrubber("Banana: ANA LOPEZ called; ana said") == "Banana: [removed] called; [removed] said"
    )


def test_addresses_phone_changes_and_short_values():
    scrubber = scrub.text_scrubber(["B"], any_email=True, phone_changes=True)
    assert scrubber("Edited phone: '303-555-0100' → \"720 555 0199\"") == "Edited phone: [removed]"
    assert scrubber("From ana.o'neil+cit@denver911.gov to B") == "From [removed] to B"
    assert scrub.scrub_json(
        {"to": ["ana@x.gov", 3], "name": {"first": "Ana"}},
        scrub.text_scrubber(["ana@x.gov", "Ana"]),
    ) == {"to": ["[removed]", 3], "name": {"first": "[removed]"}}


def test_a_value_that_would_match_the_marker_is_not_used():
    assert not scrub._usable("removed") and not scrub._usable("a") and not scrub._usable("--")
    assert scrub.text_scrubber(["Removed"])("Removed it") == "Removed it"


@pytest.mark.django_db
def test_a_scope_applied_twice_writes_nothing_the_second_time(course):
    registration = RegistrationFactory(
        offering=open_offering(course), phone="303-555-0100", accessibility_needs="Captions"
    )
    now = registration.created_at
    kwargs = {"now": now, "actor": Actor.system(), "note": "Removed."}

    assert scrub.apply(scrub.SENSITIVE, registration.pk, **kwargs)
    rows = Registration.history.filter(id=registration.pk).count()
    assert not scrub.apply(scrub.SENSITIVE, registration.pk, **kwargs)
    assert scrub.apply(scrub.ANONYMISE, registration.pk, **kwargs)
    assert not scrub.apply(scrub.ANONYMISE, registration.pk, **kwargs)
    assert not scrub.apply(scrub.CONTACT, registration.pk, **kwargs)

    assert Registration.history.filter(id=registration.pk).count() == rows + 1
    assert (
        RegistrationEvent.objects.filter(registration=registration, reason="Removed.").count() == 2
    )
    registration.refresh_from_db()
    assert (registration.sensitive_details_removed_at, registration.anonymised_at) == (now, now)


def test_substitutions_lose_both_peoples_data(course):
    registration = RegistrationFactory(
        offering=open_offering(course), first_name="Noor", last_name="Haddad"
    )
    substitution = Substitution.objects.create(
        registration=registration,
        status=Substitution.Status.WITHDRAWN,
        actor="attendee",
        original_first_name="Noor",
        original_last_name="Haddad",
        original_email="noor@example.org",
        original_work_email="noor@agency.example",
        first_name="Ilse",
        last_name="Brandt",
        work_email="ilse@agency.example",
        email="ilse@example.org",
        details={"phone": "303-555-0199", "supervisor_name": "Pat Lead", "role": "call_taker"},
    )
    RegistrationEvent.objects.create(
        registration=registration, actor="attendee", reason="Named Ilse Brandt to take the place."
    )
    kwargs = {"now": registration.created_at, "actor": Actor.system(), "note": "Removed."}

    assert scrub.apply(scrub.SENSITIVE, registration.pk, **kwargs)
    substitution.refresh_from_db()
    assert substitution.details == {"phone": "", "supervisor_name": "", "role": "call_taker"}
    assert substitution.first_name == "Ilse"

    assert scrub.apply(scrub.ANONYMISE, registration.pk, **kwargs)
    substitution.refresh_from_db()
    people = [
        substitution.first_name,
        substitution.last_name,
        substitution.original_first_name,
        substitution.original_last_name,
    ]
    assert people == [scrub.ERASED] * 4
    assert {substitution.email, substitution.work_email, substitution.original_email} == {
        scrub.erased_address(registration.pk)
    }
    assert not RegistrationEvent.objects.filter(
        registration=registration, reason__icontains="Ilse"
    ).exists()
