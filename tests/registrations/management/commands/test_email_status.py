"""``manage.py email_status``: counts by status and kind, and the oldest queued message."""

import pytest
from django.core.management import call_command

from registrations.messaging.models import OutboundEmail
from tests.registrations.helpers import queue_email

Status = OutboundEmail.Status


@pytest.mark.django_db
def test_email_status_command(capsys):
    queue_email("test:a")
    OutboundEmail.objects.filter(pk=queue_email("test:b").pk).update(status=Status.SENT)
    call_command("email_status")
    out = capsys.readouterr().out
    assert "queued     test" in out and "sent       test" in out
    assert "Oldest queued: #" in out
