"""``manage.py send_test_email ADDRESS [--name NAME] [--note TEXT]``: queue one test message."""

import uuid

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.utils import timezone

from registrations.messaging.outbox import TEST, email_queue


class Command(BaseCommand):
    help = "Queue a test message through the email pipeline (it is sent by the Celery worker)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("address")
        parser.add_argument("--name", default="", help="Recipient's display name.")
        parser.add_argument("--note", default="", help="Added to the subject.")

    def handle(self, *args: object, **options: str) -> None:
        address = options["address"].strip()
        try:
            validate_email(address)
        except ValidationError as exc:
            raise CommandError(f"{address!r} is not an email address") from exc
        queued = email_queue(
            kind=TEST,
            to_email=address,
            to_name=options["name"],
            template="emails/test",
            context={"note": options["note"], "queued_at": timezone.now().isoformat()},
            dedupe_key=f"test:{uuid.uuid4()}",
        )
        self.stdout.write(f"Queued test message {queued.email.pk} to {address}.")
