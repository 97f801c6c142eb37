"""Read a course schedule in the format training organisations publish, and load it.

The published format (see ``courses/schedules/*.txt``) is prose with entries of two lines::

    June 6-7, 2024 (evening class)
    (4:00 pm - 8:00 pm MT)

A **date line** starts with a word and a day number (1–31), then optionally a dash and a second
day (optionally preceded by a month), a year, and "(evening class)". A **time line** is a line in
parentheses that starts with a clock time. Every other line is prose and is skipped. A line with
no year takes it from the neighbouring entries, or from a year in the heading.

``parse_schedule`` turns text into ``ScheduleEntry`` values or raises ``ScheduleError`` listing
every problem with its line number; ``import_schedule`` writes them all in one transaction
(nothing is written when anything is wrong).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Course, Offering
from .scheduling import (
    SessionTimes,
    offering_create,
    offering_reschedule,
    part_of_day_for,
)
from .timefmt import clock

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
# The published labels, and which abbreviations each allows for America/Denver.
ZONE_LABELS = {"MT": {"MST", "MDT"}, "MST": {"MST"}, "MDT": {"MDT"}}
SCHEDULE_ZONE = "America/Denver"

_DASH = r"\s*[-\u2013\u2014]\s*"
_DAY = r"(?:3[01]|[12]\d|0?[1-9])"
DATE_LINE_SHAPE = re.compile(rf"^[A-Za-z]+\.?\s+{_DAY}\b")
DATE_LINE = re.compile(
    rf"""^(?P<month>[A-Za-z]+)\.?\s+(?P<day>{_DAY})
    (?:{_DASH}(?:(?P<month2>[A-Za-z]+)\.?\s+)?(?P<day2>{_DAY}))?
    (?:\s*,?\s*(?P<year>\d{{4}}))?
    \s*(?:\((?P<label>evening|day)\s+class\))?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_CLOCK = r"(?P<{0}h>\d{{1,2}})(?::(?P<{0}m>\d{{2}}))?\s*(?P<{0}ap>[ap])\.?\s*m\.?"
TIME_LINE_SHAPE = re.compile(r"^\(\s*\d{1,2}(?::\d{2})?\s*[ap]\.?\s*m\b", re.IGNORECASE)
TIME_LINE = re.compile(
    rf"^\(\s*{_CLOCK.format('s')}{_DASH}{_CLOCK.format('e')}\s*(?P<zone>[A-Za-z]+)?\s*\)\s*$",
    re.IGNORECASE,
)
HEADING_YEAR = re.compile(r"\b(20\d\d)\b")


class _LineError(ValueError):
    def __init__(self, line: int, reason: str):
        self.line = line
        super().__init__(reason)


class ScheduleError(Exception):
    """The schedule could not be read. ``problems`` is a list of ``(line_number, reason)``."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__("\n".join(f"line {n}: {reason}" for n, reason in problems))


@dataclass
class ScheduleEntry:
    """One class as published: its lines, days (local dates), local start/end, part of day."""

    line: int
    text: str
    first_day: date
    last_day: date
    starts: time
    ends: time
    part_of_day: str
    zone_label: str
    time_line: int = 0
    days: list[date] = field(default_factory=list)

    def session_times(self, zone: ZoneInfo) -> list[SessionTimes]:
        """The sessions as aware datetimes: the wall-clock times on each day in ``zone``."""
        return [
            SessionTimes(
                datetime.combine(day, self.starts, tzinfo=zone),
                datetime.combine(day, self.ends, tzinfo=zone),
            )
            for day in self.days
        ]


@dataclass
class _DateLine:
    line: int
    text: str
    month: int
    day: int
    month2: int | None
    day2: int | None
    year: int | None
    label: str | None


def _clock(match: re.Match[str], prefix: str, line: int) -> time:
    hour = int(match[f"{prefix}h"])
    minute = int(match[f"{prefix}m"] or 0)
    if not 1 <= hour <= 12 or minute > 59:
        raise _LineError(line, f"{match.group(0)!r} has an impossible clock time")
    if match[f"{prefix}ap"].lower() == "p" and hour != 12:
        hour += 12
    elif match[f"{prefix}ap"].lower() == "a" and hour == 12:
        hour = 0
    return time(hour, minute)


def _month(word: str) -> int | None:
    return MONTHS.get(word.lower())


def parse_schedule(text: str, zone: ZoneInfo | None = None) -> list[ScheduleEntry]:
    """Parse a published schedule.

    Args:
        text: the schedule's text (any line endings).
        zone: the zone the times are in; default America/Denver (the labels MT/MST/MDT).

    Returns:
        The entries in file order, each with its local days and times.

    Raises:
        ScheduleError: listing every line that has a date or time line's shape but does not parse,
        a date line without a time line (or the reverse), a zone label that contradicts the date
        (MST in July), a part-of-day label that contradicts the time, days that are not
        consecutive, or a year that cannot be inferred.
    """
    zone = zone or ZoneInfo(SCHEDULE_ZONE)
    problems: list[tuple[int, str]] = []
    pairs: list[tuple[_DateLine, int, re.Match[str]]] = []
    heading_year: int | None = None
    pending: _DateLine | None = None
    broken_date_line = False  # The last date-shaped line did not parse; its time line is quiet.

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().replace("\u00a0", " ")
        if not line:
            continue
        if DATE_LINE_SHAPE.match(line):
            if pending is not None:
                problems.append((pending.line, f"date line {pending.text!r} has no time line"))
            pending = None
            broken_date_line = True
            match = DATE_LINE.match(line)
            month = _month(match["month"]) if match else None
            month2 = _month(match["month2"]) if match and match["month2"] else None
            if not match:
                problems.append((number, f"cannot read the date line {line!r}"))
            elif month is None:
                problems.append((number, f"{match['month']!r} is not a month in {line!r}"))
            elif match["month2"] and month2 is None:
                problems.append((number, f"{match['month2']!r} is not a month in {line!r}"))
            else:
                broken_date_line = False
                pending = _DateLine(
                    line=number,
                    text=line,
                    month=month,
                    day=int(match["day"]),
                    month2=month2,
                    day2=int(match["day2"]) if match["day2"] else None,
                    year=int(match["year"]) if match["year"] else None,
                    label=match["label"].lower() if match["label"] else None,
                )
            continue
        if TIME_LINE_SHAPE.match(line):
            match = TIME_LINE.match(line)
            if pending is None and broken_date_line:
                broken_date_line = False  # Its date line is already reported.
            elif pending is None:
                problems.append((number, f"time line {line!r} does not follow a date line"))
            elif not match:
                problems.append((number, f"cannot read the time line {line!r}"))
                pending = None
            else:
                pairs.append((pending, number, match))
                pending = None
            continue
        broken_date_line = False
        if pending is not None:
            problems.append((pending.line, f"date line {pending.text!r} has no time line"))
            pending = None
        if heading_year is None and not pairs and (found := HEADING_YEAR.search(line)):
            heading_year = int(found.group(1))
    if pending is not None:
        problems.append((pending.line, f"date line {pending.text!r} has no time line"))

    years = _infer_years([p[0] for p in pairs], heading_year, problems)
    entries: list[ScheduleEntry] = []
    for (date_line, time_number, match), year in zip(pairs, years, strict=True):
        if year is None:
            continue
        try:
            entries.append(_entry(date_line, year, time_number, match, zone))
        except _LineError as exc:
            problems.append((exc.line, str(exc)))
    if problems:
        raise ScheduleError(sorted(problems))
    return entries


def _infer_years(
    lines: list[_DateLine], heading_year: int | None, problems: list[tuple[int, str]]
) -> list[int | None]:
    """Give each date line a year: its own, else the previous entry's (rolling over into the next
    year when the month goes backwards), else the next entry's, else the heading's."""
    years: list[int | None] = [dl.year for dl in lines]
    for index, dl in enumerate(lines):
        if dl.year is not None:
            continue
        previous = next(
            ((lines[i], year) for i in range(index - 1, -1, -1) if (year := years[i])), None
        )
        # Lines after this one keep the year they were written with.
        following = next(
            ((lines[i], year) for i in range(index + 1, len(lines)) if (year := lines[i].year)),
            None,
        )
        if previous:
            prev_line, prev_year = previous
            years[index] = prev_year + 1 if dl.month < prev_line.month else prev_year
        elif following:
            next_line, next_year = following
            years[index] = next_year - 1 if dl.month > next_line.month else next_year
        elif heading_year:
            years[index] = heading_year
        else:
            problems.append((dl.line, f"no year in {dl.text!r} and none to infer it from"))
    return years


def _entry(
    dl: _DateLine, year: int, time_number: int, match: re.Match[str], zone: ZoneInfo
) -> ScheduleEntry:
    last_month = dl.month2 or dl.month
    try:
        last_day = date(year, last_month, dl.day2 or dl.day)
        first_day = date(year, dl.month, dl.day)
    except ValueError:
        raise _LineError(dl.line, f"{dl.text!r} is not a real date") from None
    if first_day > last_day:  # "December 31 - January 1, 2028": the year is the last day's.
        first_day = date(year - 1, dl.month, dl.day)
    if last_day - first_day != timedelta(days=1):
        raise _LineError(dl.line, f"{dl.text!r}: the days are not two consecutive days")
    starts, ends = _clock(match, "s", time_number), _clock(match, "e", time_number)
    if ends <= starts:
        raise _LineError(time_number, "the class ends before it starts")
    derived = part_of_day_for(starts)
    if dl.label and dl.label != derived:
        raise _LineError(
            dl.line,
            f"{dl.text!r} says {dl.label} class but the time line starts at "
            f"{clock(datetime.combine(first_day, starts))}",
        )
    label = (match["zone"] or "MT").upper()
    allowed = ZONE_LABELS.get(label)
    if allowed is None:
        raise _LineError(time_number, f"unknown time zone label {label!r} (use MT, MST or MDT)")
    days = [first_day, last_day]
    for day in days:
        abbreviation = datetime.combine(day, starts, tzinfo=zone).tzname()
        if abbreviation not in allowed:
            raise _LineError(
                time_number,
                f"{label} contradicts the date: "
                f"{day:%B} {day.day}, {day.year} is on {abbreviation}",
            )
    return ScheduleEntry(
        line=dl.line,
        text=dl.text,
        first_day=first_day,
        last_day=last_day,
        starts=starts,
        ends=ends,
        part_of_day=derived,
        zone_label=label,
        time_line=time_number,
        days=days,
    )


@dataclass
class ImportReport:
    """What an import did: lists of human-readable lines, one per offering."""

    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def import_schedule(
    entries: Iterable[ScheduleEntry],
    *,
    course: Course,
    capacity: int | None = None,
    update: bool = False,
    registration_opens_at: datetime | None = None,
) -> ImportReport:
    """Create one published offering per entry, all in one transaction.

    An offering is identified by course, first day and part of day. An existing one with the same
    session times (and capacity, when ``capacity`` is given) is skipped; one that differs is a
    conflict, left alone unless ``update`` is true, in which case it is rescheduled.

    Args:
        entries: from ``parse_schedule``.
        course: the course to import into.
        capacity: seats for new offerings (default the course's); also compared on existing ones.
        update: reschedule conflicting offerings instead of reporting them.
        registration_opens_at: when registration opens (aware; default now).

    Returns: an ``ImportReport``.
    Raises: ScheduleError naming the line when an entry breaks a course rule; nothing is written.
    """
    report = ImportReport()
    problems: list[tuple[int, str]] = []
    with transaction.atomic():
        zone = ZoneInfo(course.time_zone)
        for entry in entries:
            times = entry.session_times(zone)
            label = f"line {entry.line}: {entry.text}"
            existing = (
                Offering.objects.filter(
                    course=course, starts_on=entry.first_day, part_of_day=entry.part_of_day
                )
                .prefetch_related("sessions")
                .first()
            )
            try:
                if existing is None:
                    offering_create(
                        course=course,
                        part_of_day=entry.part_of_day,
                        times=times,
                        capacity=capacity,
                        registration_opens_at=registration_opens_at,
                    )
                    report.created.append(label)
                    continue
                stored = [SessionTimes(s.starts_at, s.ends_at) for s in existing.session_list]
                differences = []
                if stored != times:
                    differences.append("session times differ")
                if capacity is not None and existing.capacity != capacity:
                    differences.append(f"capacity {existing.capacity} ≠ {capacity}")
                if not differences:
                    report.skipped.append(f"{label} (already imported)")
                elif update:
                    offering_reschedule(offering=existing, times=times, capacity=capacity)
                    report.updated.append(f"{label} ({'; '.join(differences)})")
                else:
                    report.conflicts.append(f"{label} ({'; '.join(differences)})")
            except ValidationError as exc:
                problems.extend((entry.line, message) for message in exc.messages)
        if problems:
            transaction.set_rollback(True)
    if problems:
        raise ScheduleError(problems)
    return report
