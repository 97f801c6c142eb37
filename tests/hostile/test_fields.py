"""Single-line fields refuse, at every form that takes them, what draws nothing or breaks a line,
with a message naming the character; what they accept is only tidied (``registry.FIELDS``,
``registry.INPUTS``, ``courses.text.single_line``)."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from courses.text import refused_characters
from tests.hostile.conftest import HOSTILE
from tests.hostile.registry import FIELDS, INPUTS, Field

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]

SINGLE_LINE_INPUTS = [(f, name) for f in FIELDS if f.single_line for name in f.inputs]
# What ``single_line`` says, and Django's own refusal of a NUL.
OUR_MESSAGES = ("keep this on one line", "invisible character", "contains a tab")
NUL_MESSAGE = "Null characters are not allowed."


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


@pytest.mark.parametrize(
    ("field", "input_name"),
    SINGLE_LINE_INPUTS,
    ids=lambda x: x.label if isinstance(x, Field) else x,
)
@HOSTILE
@given(data=st.data())
def test_a_single_line_field_refuses_controls_with_a_message(world, field, input_name, data):
    value = data.draw(field.typed_values(), label="value")
    form = INPUTS[input_name](world, field.name, value)
    form.is_valid()
    errors = [str(message) for message in form.errors.get(field.name, [])]
    ours = [m for m in errors if any(phrase in m for phrase in OUR_MESSAGES)]
    kept = value.strip()  # Django strips a text field's ends before validating
    refused = refused_characters(kept)
    if field.choices:
        assert errors, f"{value!r} accepted as a choice"
    elif refused:
        first = refused[0]
        shown = "a tab" if first == "\t" else _code(first)
        assert any(shown in m for m in ours), (value, errors)
    elif "\x00" in kept:
        assert NUL_MESSAGE in errors, (value, errors)
    else:
        assert not ours, (value, errors)


@pytest.mark.parametrize("input_name", sorted(INPUTS))
@example(value="Ana\r\nBcc: hostile@example.org")
@example(value="Ana\u202eanA")
@example(value="Ana\u200bMaría")
@HOSTILE
@given(value=st.sampled_from(["Ana\tMaría", "Ana\x1b[31m", "Ana\u2028Bo"]))
def test_every_input_names_the_character_it_refuses(world, input_name, value):
    fields = [f for f in FIELDS if input_name in f.inputs and f.single_line and not f.choices]
    assert fields, input_name
    for field in fields:
        form = INPUTS[input_name](world, field.name, "https://meet.example.org/" + value
                                  if field.name == "meeting_url" else value)  # fmt: skip
        assert not form.is_valid()
        message = " ".join(form.errors[field.name])
        first = refused_characters(value)[0]
        assert ("a tab" if first == "\t" else _code(first)) in message, (field.label, message)
