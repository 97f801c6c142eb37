"""The registry covers what it claims: every email kind the outbox knows has a sender here, every
renderer and field has a unique name, and every text column of the typed models is registered or
named as not typed by people."""

import pytest
from django.db import models

from courses.models import Course, Offering
from registrations.messaging import outbox
from registrations.models import Broadcast, PolicyPage, Registration
from tests.hostile.registry import EMAIL_SENDERS, FIELDS, INPUTS, RENDERERS

pytestmark = pytest.mark.hostile

# Text columns of the typed models that no person types freely: chosen from a list, written by
# citreg, or an email address (``registrations.addresses`` has stricter rules of its own).
NOT_TYPED = {
    Course: {"slug", "currency", "time_zone", "contact_email", "reminder_schedule"},
    Offering: {"part_of_day", "status", "time_zone"},
    Registration: {
        "state", "email", "pending_email", "employer_state", "work_email", "supervisor_email",
        "time_zone", "attention_reason",
    },
    Broadcast: {"audience"},
    PolicyPage: {"slug"},
}  # fmt: skip


def test_every_registered_email_kind_has_a_sender():
    assert set(EMAIL_SENDERS) == set(outbox.KINDS)
    assert {f"email: {kind}" for kind in outbox.KINDS} <= {r.name for r in RENDERERS}


def test_names_are_unique_and_inputs_exist():
    assert len({r.name for r in RENDERERS}) == len(RENDERERS)
    assert len({f.label for f in FIELDS}) == len(FIELDS)
    assert {name for f in FIELDS for name in f.inputs} <= set(INPUTS)


@pytest.mark.parametrize("model", list(NOT_TYPED), ids=lambda m: m.__name__)
def test_every_text_column_of_a_typed_model_is_registered(model):
    text_columns = {
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField)
    }
    registered = {f.name for f in FIELDS if f.model is model}
    assert text_columns - NOT_TYPED[model] == registered
    for f in FIELDS:
        column = f.model._meta.get_field(f.name)
        if getattr(column, "max_length", None):
            assert f.max_length == column.max_length, f.label
        assert f.single_line == isinstance(column, models.CharField), f.label
