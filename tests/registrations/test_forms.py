"""``registrations.forms``: bad values are refused with a message; odd ones are cleaned."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from courses.models import Offering
from courses.text import refused_characters
from registrations.forms import EmailChangeForm, clean_text
from registrations.models import Registration
from tests.registrations.helpers import form_data, open_offering, register_url, submit
from tests.registrations.test_addresses import hidden, typed

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "a@localhost", "full domain name"),
        ("email", "a@[127.0.0.1]", "full domain name"),
        ("phone", "call me maybe <b>", "Enter a phone number"),
        ("last_name", "\u200b", "invisible character (ZERO WIDTH SPACE (U+200B))"),
        ("first_name", "Ana\r\nBcc: evil@example.org", "keep this on one line"),
        ("employer_name", "Denver\t911", "contains a tab"),
        ("supervisor_name", "Sam \u202eepuS", "RIGHT-TO-LEFT OVERRIDE (U+202E)"),
        ("accessibility_needs", "x" * 2001, "under 2,000 characters"),
    ],
)
def test_bad_values_are_refused_with_a_message(client, offering, field, value, message):
    response = client.post(register_url(offering), form_data(**{field: value}))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Registration.objects.exists()


def test_spaces_and_odd_zones_are_cleaned(client, offering, django_capture_on_commit_callbacks):
    submit(
        client, offering, django_capture_on_commit_callbacks,
        first_name=" Ana   María\u00a0", phone=" 303 555 0100 x12 ", time_zone="Factory",
    )  # fmt: skip
    registration = Registration.objects.get()
    assert registration.first_name == "Ana María"
    assert registration.phone == "303 555 0100 x12"
    assert registration.time_zone == ""


@pytest.mark.parametrize(
    "zone", ["Europe/Paris\x00", "America/Denver\u200b", "../../etc", "x" * 500]
)
def test_a_tampered_time_zone_is_dropped_not_an_error(
    client, offering, django_capture_on_commit_callbacks, zone
):
    """The hidden field is filled by the browser: a value the person cannot see never becomes
    an error they cannot fix."""
    response = submit(client, offering, django_capture_on_commit_callbacks, time_zone=zone)
    assert response.status_code == 302
    assert Registration.objects.get().time_zone == ""


# --- look-alike and hidden characters in addresses ------------------------------------------------

EMAIL_FIELDS = ("email", "work_email", "supervisor_email")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("work_email", "ana@denver911.example.g\u043ev", "mixes Cyrillic and Latin"),
        ("work_email", "ana@denver911.example.g\u03bfv", "mixes Greek and Latin"),
        ("work_email", "ana@denver911.example.gov\u200b", "ZERO WIDTH SPACE"),
        ("work_email", "ana@\uff44enver911.example.gov", "FULLWIDTH LATIN SMALL LETTER D"),
        ("work_email", "ana@denver911.example.xn--gv-fmc", "mixes Cyrillic and Latin"),
        ("work_email", "ana@d\u00e9nver911.example.gov", "looks like denver911.example.gov"),
        ("supervisor_email", "sam@xn--dnver911-b1a.example.gov", "looks like denver911"),
        ("supervisor_email", "sam@denver911.example.gov\u2060", "WORD JOINER"),
        ("email", "ana\u202e@example.org", "RIGHT-TO-LEFT OVERRIDE"),
        ("email", "ana@example.org\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
        ("email", "ana@exa mple.org", "cannot contain spaces"),
    ],
)
def test_look_alike_and_hidden_addresses_are_refused_and_the_form_keeps_the_values(
    client, offering, agency, field, value, message
):
    response = client.post(
        register_url(offering), form_data(**{field: value, "employer_city": "Aurora"})
    )
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    html = response.content.decode()
    assert message in html and 'value="Aurora"' in html  # shown with what the person typed
    assert not Registration.objects.exists()


def test_a_genuine_idn_work_email_is_stored_in_its_xn_form(
    client, offering, django_capture_on_commit_callbacks
):
    response = submit(
        client, offering, django_capture_on_commit_callbacks, work_email="ana@Bücher.example"
    )
    assert response.status_code == 302
    assert Registration.objects.get().work_email == "ana@xn--bcher-kva.example"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=typed)
@example(value="ana@denver911.example.gov\u200b")
@example(value="x" * 250 + "@example.org")
@example(value="ana@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "ü" * 50 + ".org")
def test_any_typed_address_is_refused_with_a_message_or_stored_clean(client, offering, value):
    for field in EMAIL_FIELDS:
        with transaction.atomic():
            response = client.post(register_url(offering), form_data(**{field: value}))
            assert response.status_code in (302, 400)
            if response.status_code == 400:
                assert response.context["form"].errors[field]
            else:
                stored = getattr(Registration.objects.get(), field)
                assert stored and not hidden(stored) and len(stored) <= 254
            transaction.set_rollback(True)


@settings(max_examples=40, deadline=None)
@given(value=typed)
def test_a_new_course_email_is_refused_with_a_message_or_clean(value):
    form = EmailChangeForm({"new_email": value})
    if form.is_valid():
        assert not hidden(form.cleaned_data["new_email"])
    else:
        assert form.errors["new_email"]


@settings(deadline=None)
@given(st.text())
def test_names_keep_no_invisible_character(text):
    cleaned = clean_text(text)
    assert not refused_characters(cleaned)
    assert cleaned == cleaned.strip()
