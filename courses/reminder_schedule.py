"""When reminders go out: a course's reminder schedule, as staff write it in the admin.

One line per reminder, e.g.::

    7 days before the first session
    1 day before the first session
    1 hour before each session

An amount in minutes, hours or days, then "before the first session" (once per class) or "before
each session" (once per session). ``parse_reminder_schedule`` reads the text and refuses anything
else with a message naming the line, so a typo never silently drops a reminder.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

DEFAULT_REMINDER_SCHEDULE = (
    "7 days before the first session\n1 day before the first session\n1 hour before each session"
)

_UNITS = {"minute": 1, "hour": 60, "day": 1440, "week": 10080}
_LINE = re.compile(
    r"^(?P<amount>\d{1,4})\s*(?P<unit>minute|hour|day|week)s?\s+before\s+(?:the\s+)?"
    r"(?P<scope>first|each)\s+session$",
    re.IGNORECASE,
)
MAX_MINUTES = 60 * 24 * 60  # 60 days


@dataclass(frozen=True, order=True)
class ReminderOffset:
    """One reminder: ``minutes`` before the session; ``each_session`` False = first session only.

    ``key`` (e.g. ``"1440f"``, ``"60e"``) names it in dedupe keys.
    """

    minutes: int
    each_session: bool

    @property
    def key(self) -> str:
        return f"{self.minutes}{'e' if self.each_session else 'f'}"

    @property
    def label(self) -> str:
        units = (("week", 10080), ("day", 1440), ("hour", 60), ("minute", 1))
        unit, size = next((u, n) for u, n in units if self.minutes % n == 0)
        amount = self.minutes // size
        scope = "each session" if self.each_session else "the first session"
        return f"{amount} {unit}{'' if amount == 1 else 's'} before {scope}"


def parse_reminder_schedule(text: str) -> list[ReminderOffset]:
    """Read a reminder schedule (one reminder per non-blank line).

    Args:
        text: e.g. "7 days before the first session\\n1 hour before each session".

    Returns: the offsets, without duplicates, longest first. An empty text means no reminders.

    Raises:
        ValidationError: one message per unreadable line, or an amount of zero or over 60 days.
    """
    offsets: set[ReminderOffset] = set()
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = " ".join(raw.split())
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            errors.append(
                f'Line {number} ("{line}") does not read as a reminder; write e.g. '
                '"1 day before the first session" or "1 hour before each session".'
            )
            continue
        minutes = int(match["amount"]) * _UNITS[match["unit"].lower()]
        if not 0 < minutes <= MAX_MINUTES:
            errors.append(f'Line {number} ("{line}"): reminders go from 1 minute to 60 days ahead.')
            continue
        offsets.add(ReminderOffset(minutes, match["scope"].lower() == "each"))
    if errors:
        raise ValidationError(errors)
    return sorted(offsets, reverse=True)


def validate_reminder_schedule(text: str) -> None:
    """Model field validator: raises ``ValidationError`` as ``parse_reminder_schedule``."""
    parse_reminder_schedule(text)
