"""``manage.py load_demo_registrations``: made-up registrations for the local run (``make run``),
so the admin's dashboard and rosters have something to show. Local development only.

Fills the first three upcoming published classes (import the schedules first): one full, with
a waitlist and two unpaid holds; one with registrations at every step before paying, two of
them waiting for review for a day and more; one with cancelled, refunded and rejected places
and a late payment flagged for staff. The second class needs 8 confirmed attendees and its
go/no-go date is today. Confirmed places have a paid $250 payment. One email to
the training office is recorded as failed. Every state change goes through
``registration_transition``, so each registration's history is as the services write it.

The demo agencies' domains (e.g. ``denver911.example.gov``) are listed as known agency domains,
so registering with a work email there confirms eligibility at once.

Idempotent: adds nothing when demo registrations exist (their course emails end in
``@demo.citreg.example``). Sends no email.
"""

import itertools
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from courses.models import Offering
from registrations.enums import RegistrationState as S
from registrations.enums import Role
from registrations.messaging import notices
from registrations.messaging.models import OutboundEmail
from registrations.models import AgencyDomain, Registration, RegistrationEvent
from registrations.payments.models import Payment
from registrations.reports.dashboard import upcoming_classes
from registrations.transitions import USUAL_PATHS, Actor, registration_transition

DEMO_DOMAIN = "demo.citreg.example"
FIRST_NAMES = [
    "Ana", "Ben", "Chloé", "Darnell", "Eun-ji", "Farah", "Gabriel", "Hana", "Ignacio", "Jada",
    "Kai", "Lucía", "Mateo", "Nia", "Owen", "Priya", "Quinn", "Rosa", "Sam", "Tomás", "Uma",
    "Vikram", "Wen", "Ximena", "Yusuf", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "Quintero", "Bell", "Nakamura", "Okafor", "Lindqvist", "Haddad", "Moreau", "Yazzie",
    "Kowalski", "Brennan", "Castillo", "Ødegård", "Park", "Sandoval", "Whitehorse",
]  # fmt: skip
AGENCIES = [
    ("Denver 911 Emergency Communications", "Denver", "CO", "denver911.example.gov"),
    ("Aurora 911", "Aurora", "CO", "aurora911.example.gov"),
    ("Boulder Regional Emergency Telephone Service", "Boulder", "CO", "bretsa.example.gov"),
    ("Pueblo County 911", "Pueblo", "CO", "pueblo911.example.gov"),
    ("Laramie County Combined Communications", "Cheyenne", "WY", "lc911.example.gov"),
]
ROLES = [Role.CALL_TAKER, Role.DISPATCHER, Role.CALL_TAKER, Role.SUPERVISOR, Role.TRAINER]

# What each of the three classes gets: (state, how many).
PLAN: list[list[tuple[str, int]]] = [
    [(S.CONFIRMED, 22), (S.HELD, 2), (S.WAITLISTED, 3)],
    [
        (S.CONFIRMED, 5), (S.PROCESSING, 1), (S.ELIGIBLE, 2), (S.PENDING_REVIEW, 2),
        (S.PENDING_EMAIL, 1),
    ],
    [
        (S.CONFIRMED, 3), (S.PENDING_REVIEW, 1), (S.CANCELLED, 1), (S.REFUNDED, 1),
        (S.REJECTED, 1),
    ],
]  # fmt: skip


class Command(BaseCommand):
    help = "Add made-up registrations to the first upcoming classes (local development only)."

    def handle(self, *args: object, **options: object) -> None:
        for agency, _, _, domain in AGENCIES:  # known agency domains: the instant path works
            AgencyDomain.objects.get_or_create(domain=domain, defaults={"agency_name": agency})
        if Registration.objects.filter(email__endswith=f"@{DEMO_DOMAIN}").exists():
            self.stdout.write("Demo registrations exist already; nothing added.")
            return
        now = timezone.now()
        classes = list(upcoming_classes(now)[: len(PLAN)])
        if not classes:
            self.stdout.write("No upcoming published class: import a schedule first.")
            return
        people = self._people()
        made = 0
        with transaction.atomic():
            for offering, plan in zip(classes, PLAN, strict=False):
                for state, count in plan:
                    for _ in range(count):
                        self._registration(offering, state, next(people), now)
                        made += 1
            self._attention_and_failure(classes[-1], now)
            if len(classes) > 1:
                self._go_no_go_due(classes[1], now)
        self.stdout.write(f"Added {made} demo registrations to {len(classes)} classes.")

    def _people(self):
        """Endless distinct (first, last, agency, role, number) tuples."""
        for number in itertools.count():
            first = FIRST_NAMES[number % len(FIRST_NAMES)]
            last = LAST_NAMES[(number * 7 + number // len(FIRST_NAMES)) % len(LAST_NAMES)]
            yield first, last, AGENCIES[number % len(AGENCIES)], ROLES[number % len(ROLES)], number

    def _registration(self, offering: Offering, state: str, person: tuple, now) -> Registration:
        first, last, (agency, city, us_state, domain), role, number = person
        login = f"{first}.{last}.{number}".lower().replace(" ", "")
        login = "".join(ch for ch in login if ch.isascii() and (ch.isalnum() or ch == "."))
        registration = Registration.objects.create(
            offering=offering,
            first_name=first,
            last_name=last,
            email=f"{login}@{DEMO_DOMAIN}",
            phone=f"303-555-{number % 10000:04d}",
            role=role,
            employer_name=agency,
            employer_city=city,
            employer_state=us_state,
            work_email=f"{login}@{domain}",
            work_email_confirmed_at=now,
            supervisor_name="Pat Supervisor",
            supervisor_email=f"supervisor@{domain}",
            attested_at=now,
            participation_acknowledged_at=now,
            terms_accepted_at=now,
            time_zone=offering.time_zone,
        )
        for step in USUAL_PATHS[state]:
            registration_transition(
                registration_id=registration.pk,
                to_state=step,
                actor=Actor.system(),
                reason="Demo data." if step in (S.REJECTED, S.CANCELLED) else "",
            )
        if state == S.HELD:
            Registration.objects.filter(pk=registration.pk).update(
                hold_expires_at=now + timedelta(minutes=35)
            )
        if state == S.WAITLISTED:
            Registration.objects.filter(pk=registration.pk).update(waitlisted_at=now)
        if state == S.PENDING_REVIEW:  # waiting a while already
            since = now - timedelta(hours=20 + 9 * number % 60)
            RegistrationEvent.objects.filter(registration=registration).update(created_at=since)
            Registration.objects.filter(pk=registration.pk).update(created_at=since)
        if state in (S.CONFIRMED, S.REFUNDED):
            Payment.objects.create(
                registration=registration,
                status=Payment.Status.PAID,
                amount_cents=offering.course.tuition_cents,
                amount_refunded_cents=offering.course.tuition_cents if state == S.REFUNDED else 0,
                currency=offering.course.currency,
                idempotency_key=f"demo:{uuid.uuid4().hex}",
                paid_at=now,
            )
        return registration

    def _go_no_go_due(self, offering: Offering, now) -> None:
        """``offering`` needs more confirmed attendees than it has, and its go/no-go date is
        today: the dashboard asks to confirm or cancel it (the hourly task emails staff)."""
        today = now.astimezone(offering.zone).date()
        if today < offering.starts_on:
            Offering.objects.filter(pk=offering.pk).update(minimum_attendees=8, go_no_go_on=today)

    def _attention_and_failure(self, offering: Offering, now) -> None:
        """A confirmed attendee of ``offering`` flagged for a second, late payment, and the
        staff alert about it recorded as failed."""
        flagged = Registration.objects.filter(offering=offering, state=S.CONFIRMED).first()
        if flagged is None:
            return
        reason = "Late payment of $250.00 after the hold ended: refunded automatically."
        Registration.objects.filter(pk=flagged.pk).update(
            needs_attention=True, attention_reason=reason
        )
        OutboundEmail.objects.create(
            kind="staff_alert",
            dedupe_key=f"demo:{uuid.uuid4().hex}",
            registration=flagged,
            to_email=f"training-office@{DEMO_DOMAIN}",
            to_name="Training office",
            template="emails/staff_alert",
            context={
                **{
                    k: v
                    for k, v in notices.registration_context(flagged).items()
                    if k != "manage_url"
                },
                "reason": reason,
                "registrant_name": flagged.full_name,
                "registrant_email": flagged.email,
                "admin_url": f"{settings.SITE_URL}/admin/registrations/registration/"
                f"{flagged.pk}/change/",
            },
            subject=f"Needs attention: {flagged.full_name}",
            status=OutboundEmail.Status.FAILED,
            attempts=6,
            last_error="550 5.1.1 mailbox unavailable (demo)",
        )
