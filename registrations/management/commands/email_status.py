"""``manage.py email_status``: outbound email counts by status and kind, and the oldest queued.

``--last N`` also prints the links of the N latest sent messages. The outbox stores bodies with
personal links redacted (``outbox.redact_secrets``), so the command renders each message again
the way it was sent, with its links made afresh by its kind's ``refresh_context`` hook: it is a
tool for whoever runs ``manage.py`` (and so holds the signing key), never shown to staff in the
admin.
"""

import re

from django.core.management.base import BaseCommand
from django.db.models import Count

from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import KINDS, render_email


class Command(BaseCommand):
    help = "Show outbound email counts by status and kind, and the oldest queued message."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--last",
            type=int,
            default=0,
            metavar="N",
            help="Also show the N most recent sent messages with the links in them, made afresh "
            "(handy in the default run, where the console prints messages encoded).",
        )

    def handle(self, *args: object, **options: object) -> None:
        rows = (
            OutboundEmail.objects.values("status", "kind")
            .annotate(count=Count("pk"))
            .order_by("status", "kind")
        )
        if not rows:
            self.stdout.write("No outbound email recorded.")
            return
        self.stdout.write(f"{'status':<10} {'kind':<24} {'count':>7}")
        for row in rows:
            self.stdout.write(f"{row['status']:<10} {row['kind']:<24} {row['count']:>7}")
        oldest = (
            OutboundEmail.objects.filter(status=OutboundEmail.Status.QUEUED)
            .order_by("created_at")
            .first()
        )
        if oldest:
            self.stdout.write(
                f"Oldest queued: #{oldest.pk} {oldest.kind} to {oldest.to_email}, queued "
                f"{oldest.created_at:%Y-%m-%d %H:%M:%S %Z}, attempts {oldest.attempts}, "
                f"next attempt {oldest.next_attempt_at or '-'}"
                + (f", last error: {oldest.last_error}" if oldest.last_error else "")
            )
        else:
            self.stdout.write("Nothing queued.")
        if options["last"]:
            recent = OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT).order_by(
                "-sent_at"
            )[: options["last"]]
            for email in recent:
                self.stdout.write(f"\n#{email.pk} {email.sent_at:%H:%M:%S} to {email.to_email}")
                self.stdout.write(f"  {email.subject}")
                for link in dict.fromkeys(re.findall(r"https?://\S+", _text_with_links(email))):
                    self.stdout.write(f"  {link}")


def _text_with_links(email: OutboundEmail) -> str:
    """The plain-text body of ``email`` rendered again with working links (``refresh_context``);
    the stored body when the kind makes none or its body was removed (retention)."""
    kind = KINDS.get(email.kind)
    if kind is None or kind.refresh_context is None or email.body_removed_at is not None:
        return email.text_body
    email.context = kind.refresh_context(email)
    return render_email(email)[1]
