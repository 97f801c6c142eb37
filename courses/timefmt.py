"""How dates and times are written on pages, calendars and emails: one place for the wording.

All functions take timezone-aware datetimes and a ``ZoneInfo`` and return English text in the style
of the published schedule ("9:00 am – 1:00 pm MDT").
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

EN_DASH = "\u2013"


def clock(moment: datetime) -> str:
    """Return a 12-hour clock time, e.g. "9:00 am" or "4:30 pm" (``moment`` already localised)."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


def time_range_label(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    """Return e.g. "9:00 am – 1:00 pm MDT": both ends in ``zone`` with its abbreviation.

    The abbreviation is the one in force at the start (MST or MDT for America/Denver); if the end
    falls under the other one, both are written.
    """
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    start_abbr, end_abbr = start.tzname(), end.tzname()
    if start_abbr == end_abbr:
        return f"{clock(start)} {EN_DASH} {clock(end)} {end_abbr}"
    return f"{clock(start)} {start_abbr} {EN_DASH} {clock(end)} {end_abbr}"


def day_label(moment: datetime, zone: ZoneInfo) -> str:
    """Return the weekday and date in ``zone``, e.g. "Thursday, January 7, 2027"."""
    local = moment.astimezone(zone)
    return f"{local:%A}, {local:%B} {local.day}, {local.year}"


def session_label(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    """Return e.g. "Thursday, January 7, 2027, 4:00 pm – 8:00 pm MST"."""
    return f"{day_label(starts_at, zone)}, {time_range_label(starts_at, ends_at, zone)}"


def date_range_label(first: date, last: date) -> str:
    """Return the span of an offering's days as the schedule writes it.

    "June 6–7, 2024" within a month, "September 30 – October 1, 2027" across months,
    "December 31, 2027 – January 1, 2028" across years, "June 6, 2024" for one day.
    """
    if first == last:
        return f"{first:%B} {first.day}, {first.year}"
    if first.year != last.year:
        return f"{first:%B} {first.day}, {first.year} {EN_DASH} {last:%B} {last.day}, {last.year}"
    if first.month != last.month:
        return f"{first:%B} {first.day} {EN_DASH} {last:%B} {last.day}, {last.year}"
    return f"{first:%B} {first.day}{EN_DASH}{last.day}, {last.year}"
