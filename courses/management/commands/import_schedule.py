"""``manage.py import_schedule FILE [--course SLUG] [--capacity N] [--update] [--opens WHEN]``."""

from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from courses.models import Course
from courses.schedule_import import ScheduleError, import_schedule, parse_schedule

DEFAULT_COURSE_FIXTURE = "default_course"


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be positive")
    return number


class Command(BaseCommand):
    help = (
        "Import a course schedule in the published listing format (date line, then time line). "
        "All or nothing: any unreadable line stops the import with its line number."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The schedule text file.")
        parser.add_argument(
            "--course",
            default=Course.DEFAULT_SLUG,
            help=f"Slug of the course to import into (default {Course.DEFAULT_SLUG}, created "
            "from the repository's fixture when missing).",
        )
        parser.add_argument(
            "--capacity", type=_positive_int, help="Seats per new offering (and compared)."
        )
        parser.add_argument(
            "--update", action="store_true", help="Reschedule offerings whose times differ."
        )
        parser.add_argument(
            "--opens",
            help="When registration opens, ISO 8601 (e.g. 2027-01-01T09:00-07:00); default now.",
        )

    def handle(self, *args: object, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        opens_at = self._opens(options["opens"])
        try:
            entries = parse_schedule(text)
            if not entries:
                raise CommandError(
                    f"{path}: no classes found. A class is a date line such as "
                    "'June 6-7, 2024 (evening class)' followed by a time line such as "
                    "'(4:00 pm - 8:00 pm MT)'."
                )
            with transaction.atomic():  # the default course too: all or nothing
                course = self._course(options["course"])
                report = import_schedule(
                    entries,
                    course=course,
                    capacity=options["capacity"],
                    update=options["update"],
                    registration_opens_at=opens_at,
                )
        except ScheduleError as exc:
            raise CommandError(
                f"{path}: nothing imported.\n"
                + "\n".join(f"  line {n}: {reason}" for n, reason in exc.problems)
            ) from exc
        for heading, lines in (
            ("Created", report.created),
            ("Updated", report.updated),
            ("Skipped", report.skipped),
            ("Conflicts (left alone; use --update to apply)", report.conflicts),
        ):
            if lines:
                self.stdout.write(f"{heading}: {len(lines)}")
                for line in lines:
                    self.stdout.write(f"  {line}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{path.name} into {course.slug}: {len(report.created)} created, "
                f"{len(report.updated)} updated, {len(report.skipped)} skipped, "
                f"{len(report.conflicts)} in conflict."
            )
        )

    def _opens(self, value: str | None) -> datetime | None:
        if not value:
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            raise CommandError(f"--opens {value!r} is not an ISO 8601 date and time")
        if timezone.is_naive(parsed):
            raise CommandError(f"--opens {value!r} needs a UTC offset, e.g. -07:00 or Z")
        return parsed

    def _course(self, slug: str) -> Course:
        course = Course.objects.filter(slug=slug).first()
        if course is None and slug == Course.DEFAULT_SLUG:
            call_command("loaddata", DEFAULT_COURSE_FIXTURE, verbosity=0)
            course = Course.objects.get(slug=slug)
        if course is None:
            raise CommandError(f"no course with slug {slug!r}")
        return course
