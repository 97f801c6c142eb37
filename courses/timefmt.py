"""How dates and times are written on pages, calendars and emails: one place for the wording.

The rules (``docs/architecture.md``, "How times are written"), the same for every surface and
mirrored line for line by ``static/js/localtime.js`` (both are checked against
``tests/fixtures/time_vectors.json``):

- English whatever the reader's locale: a 12-hour clock ("9:00 am", "4:30 pm"), weekday and
  month names in full ("Thursday, January 7, 2027").
- A zone is named by its abbreviation: the North American ones (``ABBREVIATIONS``, e.g. MST,
  MDT, EST, HST, AKST) when the zone database uses that name at that UTC offset, else the offset
  from GMT ("GMT+5:30", "GMT+1", "GMT"), as browsers write it.
- The published zone (Mountain Time) comes first; a viewer's own time, when their zone is known
  and it reads differently, is written beside it by ``local_range_label`` /
  ``local_instant_label``: with the viewer's date when it is not the published one, both dates
  when the session crosses the viewer's midnight, and the viewer's weekday and date always for a
  single moment (a deadline).
- When the gap between the viewer's zone and the published one changes between sessions (a
  daylight saving switch in one zone only), ``start_hours_note`` says so.

All functions take timezone-aware datetimes and ``ZoneInfo`` zones and return plain text.
"""

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

EN_DASH = "\u2013"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# The letter abbreviations written for a zone, by UTC offset in minutes: a zone's own
# abbreviation is used only when it is one of these at that offset (so China's "CST" at +8 and
# Cuba's "CDT" at -4 are written as GMT offsets). Browsers name exactly these in English.
ABBREVIATIONS: dict[int, frozenset[str]] = {
    -180: frozenset({"ADT"}),
    -240: frozenset({"AST", "EDT"}),
    -300: frozenset({"EST", "CDT"}),
    -360: frozenset({"CST", "MDT"}),
    -420: frozenset({"MST", "PDT"}),
    -480: frozenset({"PST", "AKDT"}),
    -540: frozenset({"AKST", "HDT"}),
    -600: frozenset({"HST"}),
}

LOCAL_HOURS_NOTE = (
    "In your time zone the sessions do not all start at the same hour "
    "(a daylight saving time change falls between them): "
)


def clock(moment: datetime) -> str:
    """Return a 12-hour clock time, e.g. "9:00 am" or "4:30 pm" (``moment`` already localised)."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


def utc_offset_minutes(local: datetime) -> int:
    """The UTC offset of an aware datetime in whole minutes, e.g. -420 for MST, 330 for India.

    Raises: ValueError for a naive datetime."""
    offset = local.utcoffset()
    if offset is None:
        raise ValueError("an aware datetime is needed")
    return int(offset.total_seconds() // 60)


def gmt_offset_label(minutes: int) -> str:
    """An offset from GMT as browsers write it in English: 0 → "GMT", 60 → "GMT+1",
    330 → "GMT+5:30", -210 → "GMT-3:30"."""
    if minutes == 0:
        return "GMT"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_abbreviation(local: datetime) -> str:
    """The zone's name at ``local`` (an aware datetime in that zone): "MST", "MDT", "EST",
    "HST", "AKDT", …, when the zone database calls it so at that offset (``ABBREVIATIONS``),
    else the GMT offset ("GMT+5:30", "GMT+1", "GMT")."""
    minutes = utc_offset_minutes(local)
    name = local.tzname() or ""
    if name in ABBREVIATIONS.get(minutes, ()):
        return name
    return gmt_offset_label(minutes)


def month_day(local: date) -> str:
    """ "January 7": the month's name and the day, of a date or localised datetime."""
    return f"{MONTHS[local.month - 1]} {local.day}"


def day_label(moment: datetime, zone: ZoneInfo) -> str:
    """Return the weekday and date in ``zone``, e.g. "Thursday, January 7, 2027"."""
    local = moment.astimezone(zone)
    return f"{WEEKDAYS[local.weekday()]}, {month_day(local)}, {local.year}"


def time_range_label(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    """Return e.g. "9:00 am – 1:00 pm MDT": both ends in ``zone`` with its abbreviation.

    The abbreviation is the one in force at the start (MST or MDT for America/Denver); if the end
    falls under the other one, both are written.
    """
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    start_abbr, end_abbr = zone_abbreviation(start), zone_abbreviation(end)
    if start_abbr == end_abbr:
        return f"{clock(start)} {EN_DASH} {clock(end)} {end_abbr}"
    return f"{clock(start)} {start_abbr} {EN_DASH} {clock(end)} {end_abbr}"


def session_label(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    """Return e.g. "Thursday, January 7, 2027, 4:00 pm – 8:00 pm MST"."""
    return f"{day_label(starts_at, zone)}, {time_range_label(starts_at, ends_at, zone)}"


def instant_label(moment: datetime, zone: ZoneInfo) -> str:
    """A single moment (a deadline) in ``zone``: "Tuesday, December 1, 2026, 11:53 pm MST"."""
    local = moment.astimezone(zone)
    return f"{day_label(local, zone)}, {clock(local)} {zone_abbreviation(local)}"


def _reads_the_same(mine: datetime, theirs: datetime) -> bool:
    return (mine.date(), clock(mine), zone_abbreviation(mine)) == (
        theirs.date(),
        clock(theirs),
        zone_abbreviation(theirs),
    )


def _viewer_day(mine: datetime, published: datetime) -> str:
    """ "Friday, January 8" in the viewer's zone; the year too when it is not the published
    date's year."""
    text = f"{WEEKDAYS[mine.weekday()]}, {month_day(mine)}"
    return text if mine.year == published.year else f"{text}, {mine.year}"


def local_instant_label(moment: datetime, published_zone: ZoneInfo, viewer_zone: ZoneInfo) -> str:
    """A deadline in the viewer's zone, always with their weekday and date: "Wednesday,
    December 2, 1:53 am EST" (the year too when it differs from the published date's); "" when
    it reads the same as in the published zone (a viewer in Denver, or in Phoenix in winter)."""
    published, mine = moment.astimezone(published_zone), moment.astimezone(viewer_zone)
    if _reads_the_same(mine, published):
        return ""
    return f"{_viewer_day(mine, published)}, {clock(mine)} {zone_abbreviation(mine)}"


def local_range_label(
    starts_at: datetime, ends_at: datetime, published_zone: ZoneInfo, viewer_zone: ZoneInfo
) -> str:
    """A session in the viewer's zone, to write beside the published text; "" when both ends
    read the same as in the published zone.

    "6:00 pm – 10:00 pm EST" on the published date; "Friday, January 8, 8:30 am – 12:30 pm
    GMT+5:30" on another date; "Thursday, January 7, 11:00 pm – Friday, January 8, 3:00 am GMT"
    across the viewer's midnight (both dates named). The abbreviation is written after the end,
    and after the start too when the viewer's zone switches during the session.
    """
    published_start = starts_at.astimezone(published_zone)
    published_end = ends_at.astimezone(published_zone)
    start, end = starts_at.astimezone(viewer_zone), ends_at.astimezone(viewer_zone)
    if _reads_the_same(start, published_start) and _reads_the_same(end, published_end):
        return ""
    start_abbr, end_abbr = zone_abbreviation(start), zone_abbreviation(end)
    start_clock = clock(start) if start_abbr == end_abbr else f"{clock(start)} {start_abbr}"
    if start.date() == end.date():
        same_date = start.date() == published_start.date()
        day = "" if same_date else f"{_viewer_day(start, published_start)}, "
        return f"{day}{start_clock} {EN_DASH} {clock(end)} {end_abbr}"
    return (
        f"{_viewer_day(start, published_start)}, {start_clock} {EN_DASH} "
        f"{_viewer_day(end, published_start)}, {clock(end)} {end_abbr}"
    )


def start_hours_note(
    starts: Sequence[datetime], published_zone: ZoneInfo, viewer_zone: ZoneInfo
) -> str:
    """The note a viewer needs when an offering's sessions start at different hours for them
    only because a daylight saving switch falls between the sessions in one of the two zones (a
    class straddling Mountain Time's March switch, seen from Phoenix), e.g. "In your time zone
    the sessions do not all start at the same hour (a daylight saving time change falls between
    them): Saturday, March 13, 4:00 pm; Sunday, March 14, 3:00 pm MST."

    Returns "" when the gap between the two zones is the same at every start, or when the
    viewer's start times are all the same anyway.
    """
    pairs = [(s.astimezone(viewer_zone), s.astimezone(published_zone)) for s in starts]
    gaps = {utc_offset_minutes(mine) - utc_offset_minutes(theirs) for mine, theirs in pairs}
    if len(gaps) < 2 or len({clock(mine) for mine, _ in pairs}) < 2:
        return ""
    abbreviations = [zone_abbreviation(mine) for mine, _ in pairs]
    one_abbreviation = len(set(abbreviations)) == 1
    items = [
        f"{_viewer_day(mine, theirs)}, {clock(mine)}" + ("" if one_abbreviation else f" {abbr}")
        for (mine, theirs), abbr in zip(pairs, abbreviations, strict=True)
    ]
    tail = f" {abbreviations[0]}." if one_abbreviation else "."
    return LOCAL_HOURS_NOTE + "; ".join(items) + tail


def with_viewer(published_text: str, viewer_text: str) -> str:
    """The published text with the viewer's beside it: "4:00 pm – 8:00 pm MST (your time:
    6:00 pm – 10:00 pm EST)"; the published text alone when ``viewer_text`` is empty."""
    return f"{published_text} (your time: {viewer_text})" if viewer_text else published_text


def date_range_label(first: date, last: date) -> str:
    """Return the span of an offering's days as the schedule writes it.

    "June 6–7, 2024" within a month, "September 30 – October 1, 2027" across months,
    "December 31, 2027 – January 1, 2028" across years, "June 6, 2024" for one day.
    """
    if first == last:
        return f"{month_day(first)}, {first.year}"
    if first.year != last.year:
        return f"{month_day(first)}, {first.year} {EN_DASH} {month_day(last)}, {last.year}"
    if first.month != last.month:
        return f"{month_day(first)} {EN_DASH} {month_day(last)}, {last.year}"
    return f"{month_day(first)}{EN_DASH}{last.day}, {last.year}"


def stamp_label(moment: datetime, zone: ZoneInfo) -> str:
    """Return a moment as exports write it, with its zone: e.g. "2027-01-07 09:15 MST" (ISO date,
    24-hour clock, the zone named by ``zone_abbreviation``). For rows a spreadsheet sorts."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_abbreviation(local)}"
