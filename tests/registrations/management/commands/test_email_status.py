"""``manage.py email_status``: counts by status and kind, the oldest queued message, and the
links of the latest ones."""

import pytest
from django.core.management import call_command

from registrations.messaging.models import OutboundEmail
from tests.registrations.helpers import open_link, open_offering, path_of, queue_email, submit

Status = OutboundEmail.Status


@pytest.mark.django_db
def test_email_status_command(capsys):
    queue_email("test:a")
    OutboundEmail.objects.filter(pk=queue_email("test:b").pk).update(status=Status.SENT)
    call_command("email_status")
    out = capsys.readouterr().out
    assert "queued     test" in out and "sent       test" in out
    assert "Oldest queued: #" in out


def test_last_prints_working_links_the_log_does_not_keep(
    course, client, capsys, django_capture_on_commit_callbacks
):
    """The stored body says ``[personal link]``; ``--last`` renders the message again with a
    link that opens the page (the default run's way to follow emailed links)."""
    submit(client, open_offering(course), django_capture_on_commit_callbacks)
    sent = OutboundEmail.objects.get(kind="confirm_work_email")
    assert sent.status == Status.SENT and "/r/confirm/" not in sent.text_body

    call_command("email_status", "--last", "1")

    out = capsys.readouterr().out
    (link,) = [line.strip() for line in out.splitlines() if "/r/confirm/" in line]
    page = open_link(client, path_of(link))
    assert page.status_code == 200 and b"Confirm my work email" in page.content
