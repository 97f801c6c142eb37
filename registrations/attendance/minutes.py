"""Minutes attended: the union of a person's join–leave intervals, clipped to the session.

A person who reconnects appears on several rows, and rows may overlap (Teams writes the new
connection before closing the old one): each minute counts once, and minutes before the
session's start or after its end not at all (``docs/architecture.md``, "Attendance").
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

TENTH = Decimal("0.1")


def attended_span(
    intervals: Iterable[tuple[datetime, datetime]], starts_at: datetime, ends_at: datetime
) -> timedelta:
    """The time inside ``[starts_at, ends_at]`` covered by at least one of ``intervals``.

    Args:
        intervals: (joined, left) pairs of aware datetimes, in any order, possibly overlapping;
            a pair whose left is before its joined counts as nothing.
        starts_at, ends_at: the session (aware datetimes).
    """
    clipped = sorted(
        (max(joined, starts_at), min(left, ends_at))
        for joined, left in intervals
        if min(left, ends_at) > max(joined, starts_at)
    )
    total = timedelta()
    current_start: datetime | None = None
    current_end: datetime | None = None
    for joined, left in clipped:
        if current_end is None or joined > current_end:
            if current_start is not None and current_end is not None:
                total += current_end - current_start
            current_start, current_end = joined, left
        else:
            current_end = max(current_end, left)
    if current_start is not None and current_end is not None:
        total += current_end - current_start
    return total


def attended_minutes(
    intervals: Iterable[tuple[datetime, datetime]], starts_at: datetime, ends_at: datetime
) -> Decimal:
    """``attended_span`` in minutes, rounded half up to a tenth (e.g. ``Decimal("237.6")``)."""
    seconds = Decimal(attended_span(intervals, starts_at, ends_at).total_seconds())
    return (seconds / 60).quantize(TENTH, rounding=ROUND_HALF_UP)
