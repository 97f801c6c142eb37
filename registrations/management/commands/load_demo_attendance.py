"""``manage.py load_demo_attendance``: the real December 12–13, 2024 class with the people of
the demo participants reports, so their import can be tried (README, "Attendance").

Creates (once; running it again changes nothing) six confirmed registrations whose names and
emails match ``registrations/attendance/demo/zoom-participants-2024-12-12.csv`` (day 1) and
``teams-attendance-2024-12-13.csv`` (day 2), and an instructor account, "Lead Trainer"
(``trainer@cit-training.example``, no password: sign-in is for real staff), assigned to the
class so the reports' host rows are recognised. Needs the 2024 schedule imported first.
Local demonstration data only: the people are invented.
"""

from datetime import UTC, date, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from courses.models import Course, Offering
from registrations import roles
from registrations.models import Registration
from registrations.transitions import Actor, registration_transition

CLASS_DAY = date(2024, 12, 12)
ATTESTED = datetime(2024, 11, 20, 17, tzinfo=UTC)
# (first, last, course email, work email, agency, city): as they registered.
PEOPLE = [
    ("Ana", "Test", "ana.test@denver-psap.example.gov", "Denver PSAP", "Denver"),
    ("Ben", "Sample", "ben.sample@metro-ecc.example.gov", "Metro ECC", "Aurora"),
    ("Cara", "Example", "cara.example@springs-911.example.gov", "Springs 911", "Colorado Springs"),
    ("Dev", "Placeholder", "dev.placeholder@county911.example.org", "County 911", "Golden"),
    ("José", "Núñez", "jose.nunez@ciudad-psap.example.gov", "Ciudad PSAP", "Pueblo"),
    ("Zoë", "Ångström", "zoe.angstrom@north-ecc.example.gov", "North ECC", "Greeley"),
]
PATH = (Registration.State.ELIGIBLE, Registration.State.HELD, Registration.State.CONFIRMED)


class Command(BaseCommand):
    help = "Seed the December 12–13, 2024 class with the people of the demo attendance reports."

    def handle(self, *args: object, **options: object) -> None:
        offering = Offering.objects.filter(
            course__slug=Course.DEFAULT_SLUG,
            starts_on=CLASS_DAY,
            part_of_day=Offering.PartOfDay.DAY,
        ).first()
        if offering is None:
            raise CommandError("Import the 2024 schedule first (make demo-data does).")
        created = 0
        with transaction.atomic():
            trainer, _ = get_user_model().objects.get_or_create(
                username="lead-trainer",
                defaults={
                    "email": "trainer@cit-training.example",
                    "first_name": "Lead",
                    "last_name": "Trainer",
                    "is_staff": True,
                },
            )
            group = Group.objects.filter(name=roles.INSTRUCTOR).first()
            if group is not None:
                trainer.groups.add(group)
            offering.instructors.add(trainer)
            for first, last, email, agency, city in PEOPLE:
                if offering.registrations.filter(email=email).exists():
                    continue
                registration = Registration.objects.create(
                    offering=offering,
                    first_name=first,
                    last_name=last,
                    email=email,
                    work_email=email,
                    work_email_confirmed_at=ATTESTED,
                    role=Registration.Role.CALL_TAKER,
                    employer_name=agency,
                    employer_city=city,
                    supervisor_name="Demo Supervisor",
                    supervisor_email=f"supervisor@{email.split('@')[1]}",
                    attested_at=ATTESTED,
                    participation_acknowledged_at=ATTESTED,
                    terms_accepted_at=ATTESTED,
                )
                for state in PATH:
                    registration_transition(
                        registration_id=registration.pk,
                        to_state=state,
                        actor=Actor.system(),
                        reason="Demo data (paid before citreg).",
                    )
                created += 1
        self.stdout.write(f"Demo attendance class: {offering} ({created} registrations added).")
