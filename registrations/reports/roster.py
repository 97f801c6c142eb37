"""The class roster: every registration of a class with the columns a staff member may see, what
each paid and had refunded, and the counts by state. The roster page, its CSV and XLSX exports
and the registration list's "export roster" action all read these columns, so they agree.

A column is shown to a user when the registration field it names is visible to them
(``roles.registration_fields_visible``: the phone needs ``view_contact_details``, the role and
work email the review permission, the course email ``change_registration``) and they hold one of
its ``permissions`` if it names any (the amounts: ``issue_refund`` or ``view_payment``, so an
instructor's roster has no money); a column naming neither (the class) is shown to whoever may
see the roster. Later packages add their
own columns with ``register_column`` (attendance, when it exists), and every roster surface
shows them.

Money is integer cents in the database and Decimal dollars here (``dollars``), so an export
keeps amounts as numbers. Times are written with their zone (``courses.timefmt.stamp_label``) in
the class's zone.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from courses.timefmt import stamp_label
from registrations import roles
from registrations.enums import RegistrationState as S
from registrations.enums import Role
from registrations.models import Registration
from registrations.payments.ledger import MoneyTotals, with_money_totals
from registrations.seats.queries import taken_filter

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    # A registration as ``roster_queryset`` returns it (with its money totals).
    RosterRegistration = WithAnnotations[Registration, MoneyTotals]


def dollars(cents: int) -> Decimal:
    """Integer cents as Decimal dollars with two places: 25000 → Decimal("250.00")."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class RosterColumn:
    """One column of the roster: its header ``title``, ``value(registration)`` (a registration
    from ``roster_queryset``: with ``paid_cents`` and ``refunded_cents``) and ``field``, the
    registration field whose visibility rule shows the column (None: anyone who sees the roster)
    and ``permissions``, of which the user needs one when any are named. ``money`` marks amounts
    in dollars (exports format them as currency)."""

    title: str
    value: "Callable[[RosterRegistration], object]"
    field: str | None = None
    money: bool = False
    permissions: tuple[str, ...] = ()


def _display(name: str) -> "Callable[[RosterRegistration], object]":
    """The field's value, or its choice's label when the field has choices."""

    def value(registration: "RosterRegistration") -> object:
        display = getattr(registration, f"get_{name}_display", None)
        return display() if display else getattr(registration, name)

    return value


def _field(title: str, name: str) -> RosterColumn:
    return RosterColumn(title, _display(name), field=name)


# Who sees what was paid and refunded: staff who refund or see payments.
MONEY = (roles.ISSUE_REFUND, "registrations.view_payment")


COLUMNS: list[RosterColumn] = [
    _field("registration", "id"),
    _field("first name", "first_name"),
    _field("last name", "last_name"),
    _field("course email", "email"),
    _field("work email", "work_email"),
    _field("phone", "phone"),
    _field("role", "role"),
    _field("agency", "employer_name"),
    _field("city", "employer_city"),
    _field("state", "employer_state"),
    RosterColumn("class", lambda r: str(r.offering)),
    _field("status", "state"),
    RosterColumn(
        "registered", lambda r: stamp_label(r.created_at, r.offering.zone), field="created_at"
    ),
    RosterColumn("paid", lambda r: dollars(r.paid_cents), money=True, permissions=MONEY),
    RosterColumn("refunded", lambda r: dollars(r.refunded_cents), money=True, permissions=MONEY),
]


def register_column(column: RosterColumn, *, after: str | None = None) -> None:
    """Add ``column`` to every roster (page and exports), after the column titled ``after``
    (default: at the end). Called once by the module that owns the data, when imported.

    Raises: ValueError when a column of that title exists or ``after`` names none."""
    titles = [c.title for c in COLUMNS]
    if column.title in titles:
        raise ValueError(f"a roster column {column.title!r} exists")
    if after is None:
        COLUMNS.append(column)
        return
    if after not in titles:
        raise ValueError(f"no roster column {after!r}")
    COLUMNS.insert(titles.index(after) + 1, column)


def visible_columns(user: PermissionsMixin | AnonymousUser) -> list[RosterColumn]:
    """The columns ``user`` may see: the field rule (``roles.registration_fields_visible``) for
    the field a column names, and one of its ``permissions``."""
    visible = roles.registration_fields_visible(user)
    return [
        c
        for c in COLUMNS
        if (c.field is None or c.field in visible)
        and (not c.permissions or any(user.has_perm(p) for p in c.permissions))
    ]


def roster_queryset(
    queryset: QuerySet[Registration],
) -> "QuerySet[WithAnnotations[Registration, MoneyTotals]]":
    """``queryset`` ready for the roster: class, course, sessions and attendance loaded, money
    totals annotated (``ledger.with_money_totals``), by class, then last and first name."""
    return with_money_totals(
        queryset.select_related("offering__course").prefetch_related(
            "offering__sessions", "attendance"
        )
    ).order_by("offering__starts_on", "offering_id", "last_name", "first_name", "pk")


def roster_rows(
    queryset: QuerySet[Registration], user: PermissionsMixin | AnonymousUser
) -> Iterator[list[object]]:
    """The roster of ``queryset`` as rows: the header first, then one row per registration
    with the columns ``user`` may see (``visible_columns``; text, ints, Decimal dollars).
    Three queries whatever the length."""
    columns = visible_columns(user)
    yield [c.title for c in columns]
    for registration in roster_queryset(queryset):
        yield [c.value(registration) for c in columns]


# What the roster page's "seat" filter selects, by its value.
SEAT_FILTERS: dict[str, tuple[str, Callable[[datetime], Q]]] = {
    "taken": ("Seat taken", lambda now: taken_filter(now)),
    "held": ("Seat held (unpaid)", lambda now: Q(state=S.HELD, hold_expires_at__gt=now)),
    "waitlisted": ("Waitlisted", lambda now: Q(state=S.WAITLISTED)),
}


def filter_roster(
    queryset: QuerySet[Registration],
    *,
    state: str = "",
    seat: str = "",
    role: str = "",
    now: datetime | None = None,
) -> QuerySet[Registration]:
    """``queryset`` narrowed by ``state`` (a registration state), ``seat`` (a key of
    ``SEAT_FILTERS``: the seat rule of ``seats.queries`` at ``now``) and ``role``; an empty or
    unknown value narrows nothing."""
    now = now or timezone.now()
    if state in S.values:
        queryset = queryset.filter(state=state)
    if seat in SEAT_FILTERS:
        queryset = queryset.filter(SEAT_FILTERS[seat][1](now))
    if role in Role.values:
        queryset = queryset.filter(role=role)
    return queryset


@dataclass(frozen=True)
class StateCount:
    """How many registrations of a roster are in ``state`` (its ``label``)."""

    state: str
    label: str
    count: int


def state_counts(queryset: QuerySet[Registration]) -> list[StateCount]:
    """The registrations of ``queryset`` counted by state, in the order of the states' list,
    states with none left out (one query)."""
    found = dict(
        queryset.order_by().values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    return [StateCount(value, label, found[value]) for value, label in S.choices if value in found]
