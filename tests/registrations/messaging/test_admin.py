"""``registrations.messaging.admin``: the outbox's "send again" action."""

import pytest

from registrations.messaging.models import OutboundEmail
from tests.registrations.helpers import queue_email

Status = OutboundEmail.Status


@pytest.mark.django_db
def test_admin_send_again_action(admin_client, published):
    failed = queue_email("test:failed")
    OutboundEmail.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    response = admin_client.post(
        "/admin/registrations/outboundemail/",
        {"action": "send_again", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert "1 message(s) queued again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Status.QUEUED
