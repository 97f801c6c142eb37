"""Flagging a registration for staff when money needs a person (late money, disputes, failed
refunds): recorded in its history and sent to the training administration once per reason."""

from django.db import transaction
from django.utils import timezone

from registrations.messaging import notices
from registrations.models import Registration
from registrations.transitions import Actor, registration_note


def flag(registration: Registration, reason: str) -> None:
    """Mark ``registration`` as needing attention for ``reason`` (plain text), note it in the
    history and alert staff by email (once per reason, after commit)."""
    with transaction.atomic():
        Registration.objects.filter(pk=registration.pk).update(
            needs_attention=True, attention_reason=reason, updated_at=timezone.now()
        )
        registration_note(registration, actor=Actor.system(), reason=f"Needs attention: {reason}")
        notices.send_staff_alert(registration, reason)
