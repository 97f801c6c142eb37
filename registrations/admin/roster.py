"""Admin: a class's roster (its own page, a summary on the offering's page), its CSV and XLSX
exports, and a printable sign-in sheet per session. The columns, filters and counts are
``registrations.reports.roster``'s; this module only shows them.

- ``/admin/courses/offering/<id>/roster/`` (``admin:offering_roster``): every registration of the
  class with the columns the user may see (``roles.registration_fields_visible``), the counts by
  state, search (name, emails, agency, phone: the visible ones) and filters (``state``, ``seat``,
  ``role``). Needs ``view_registration``. Its actions are the registration list's own (email the
  selected, approve, reject, cancel and refund, refund): the form posts to the roster, which hands
  the selection (narrowed to this class) to ``RegistrationAdmin.response_action``, so each action
  asks its own permission and its intermediate form posts back here.
- ``…/roster/export/<csv|xlsx>/`` (``admin:offering_roster_export``): the rows the page shows (same
  filters and search), needs ``export_roster`` too, recorded (``StaffAccess``; ``guards``).
- ``/admin/courses/session/<id>/sign-in-sheet/`` (``admin:session_sign_in_sheet``): the attendees
  holding a seat (confirmed, processing, completed) with a signature column, under the
  session's date and times (``courses.timefmt``), with a print stylesheet.

The views are served by the admin site (``StaffAdminSite.register_view``), so they need a signed
in staff member (and the OTP device when required); the offering page's summary is added
through ``courses.admin.register_offering_panel``, as ``courses`` imports nothing of ours.
"""

from decimal import Decimal
from functools import reduce
from operator import or_
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from courses.admin import register_offering_counts, register_offering_panel
from courses.models import Offering, Session
from courses.timefmt import day_label, session_label, time_range_label
from registrations import roles
from registrations.enums import SEAT_STATES, Role
from registrations.enums import RegistrationState as S
from registrations.models import Registration, StaffAccess
from registrations.reports import roster
from registrations.seats.queries import with_seats_taken

from .guards import EXPORT_FORMATS, recorded_export

VIEW_REGISTRATION = "registrations.view_registration"
# The registration list's actions a roster offers (each still asks its own permission).
ROSTER_ACTIONS = (
    "email_selected", "approve", "reject", "cancel_and_refund", "refund_only",
    "transfer_to_another_class", "substitute_a_colleague",
)  # fmt: skip
# What the search box looks in, each only when the user may see that field.
SEARCH_FIELDS = ("first_name", "last_name", "email", "work_email", "employer_name", "phone")


def may_open_roster(request: HttpRequest, offering: Offering) -> bool:
    """Whether ``request.user`` may open ``offering``'s roster and sign-in sheets: whoever may
    open the class (``roles.may_see_offering``: an instructor only the classes they teach), and
    reviewers and finance, who see every class's registrations in the registration list."""
    user = request.user
    return (
        roles.may_see_offering(user, offering)
        or user.has_perm(roles.REVIEW)
        or user.has_perm(roles.EXPORT_ROSTER)
    )


def _offering(request: HttpRequest, offering_id: int) -> Offering:
    """The class, when ``request.user`` may open its roster (``may_open_roster``).

    Raises: Http404; PermissionDenied."""
    offering = get_object_or_404(
        Offering.objects.select_related("course").prefetch_related("sessions"), pk=offering_id
    )
    if not may_open_roster(request, offering):
        raise PermissionDenied("This class is not one of yours.")
    return offering


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_REGISTRATION):
        raise PermissionDenied("Seeing a roster needs the view permission on registrations.")


def roster_url(offering: Offering, **query: str) -> str:
    """The roster page of ``offering``, with ``query`` (filters) in its query string."""
    url = reverse("admin:offering_roster", args=[offering.pk])
    return f"{url}?{urlencode(query)}" if query else url


def _search(queryset: QuerySet, terms: str, visible: frozenset[str]) -> QuerySet:
    """Registrations matching every word of ``terms`` in one of the visible search fields."""
    fields = [name for name in SEARCH_FIELDS if name in visible]
    for word in terms.split():
        queryset = queryset.filter(reduce(or_, (Q(**{f"{f}__icontains": word}) for f in fields)))
    return queryset


def _selection(request: HttpRequest, offering: Offering) -> tuple[QuerySet, dict[str, str]]:
    """The offering's registrations narrowed by the request's filters and search, and the
    filters' values as read (empty when absent)."""
    values = {name: request.GET.get(name, "").strip() for name in ("state", "seat", "role", "q")}
    visible = roles.registration_fields_visible(request.user)
    if "role" not in visible:
        values["role"] = ""
    queryset = roster.filter_roster(
        Registration.objects.filter(offering=offering),
        state=values["state"],
        seat=values["seat"],
        role=values["role"],
    )
    return _search(queryset, values["q"], visible), values


def _cell(column: roster.RosterColumn, value: object) -> object:
    if column.money and isinstance(value, Decimal):
        return f"${value:,.2f}"
    return "—" if value in ("", None) else value


def _filter_links(offering: Offering, values: dict[str, str], visible: frozenset[str]) -> list:
    """The filter menus of the roster page: (title, parameter, [(label, url, selected)])."""

    def choices(name: str, options: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
        others = {k: v for k, v in values.items() if v and k != name}
        found = [("All", roster_url(offering, **others), not values[name])]
        for value, label in options:
            url = roster_url(offering, **others, **{name: value})
            found.append((label, url, values[name] == value))
        return found

    menus = [
        ("seat", choices("seat", [(k, v[0]) for k, v in roster.SEAT_FILTERS.items()])),
        ("state", choices("state", list(S.choices))),
    ]
    if "role" in visible:
        menus.append(("role", choices("role", list(Role.choices))))
    return menus


def roster_view(request: HttpRequest, offering_id: int) -> HttpResponse:
    """The roster page of one class (GET), or one of its actions on the selected registrations
    (POST: ``action`` of ``ROSTER_ACTIONS`` and the selection; handed to the registration
    list's ``response_action`` with the class's registrations, so a selection never reaches
    another class). 403 without ``view_registration``; 404 for an unknown class."""
    _require_view(request)
    offering = _offering(request, offering_id)
    model_admin = admin.site.get_model_admin(Registration)
    if request.method == "POST":
        if request.POST.get("action") not in ROSTER_ACTIONS:
            model_admin.message_user(request, "Choose an action from the list.", messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        response = model_admin.response_action(
            request, Registration.objects.filter(offering=offering)
        )
        return response or HttpResponseRedirect(request.get_full_path())
    visible = roles.registration_fields_visible(request.user)
    # The page is one class's: its column would repeat the heading (the exports keep it).
    columns = [c for c in roster.visible_columns(request.user) if c.title != "class"]
    queryset, values = _selection(request, offering)
    rows = [
        (registration, [_cell(c, c.value(registration)) for c in columns])
        for registration in roster.roster_queryset(queryset)
    ]
    everyone = Registration.objects.filter(offering=offering)
    now = timezone.now()
    seats = {
        key: roster.filter_roster(everyone, seat=key, now=now).count()
        for key in roster.SEAT_FILTERS
    }
    choices = dict(model_admin.get_action_choices(request, default_choices=[]))
    actions = [(name, choices[name]) for name in ROSTER_ACTIONS if name in choices]
    query = urlencode({k: v for k, v in values.items() if v})
    context = {
        **admin.site.each_context(request),
        "title": f"Roster: {offering}",
        "offering": offering,
        "opts": Offering._meta,
        "columns": columns,
        "rows": rows,
        "counts": [
            (count, roster_url(offering, state=count.state))
            for count in roster.state_counts(everyone)
        ],
        "total": everyone.count(),
        "seats": seats,
        "seat_urls": {key: roster_url(offering, seat=key) for key in roster.SEAT_FILTERS},
        "filters": _filter_links(offering, values, visible),
        "values": values,
        "filtered": any(values.values()),
        "actions": actions,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "may_export": request.user.has_perm(roles.EXPORT_ROSTER),
        "export_query": query,
        "sessions": [
            (
                number,
                session_label(session.starts_at, session.ends_at, offering.zone),
                reverse("admin:session_sign_in_sheet", args=[session.pk]),
            )
            for number, session in enumerate(offering.session_list, start=1)
        ],
        "change_url": reverse("admin:courses_offering_change", args=[offering.pk]),
    }
    return TemplateResponse(request, "admin/registrations/roster.html", context)


def roster_export(
    request: HttpRequest, offering_id: int, file_format: str
) -> HttpResponse | StreamingHttpResponse:
    """The roster of one class as ``file_format`` (``csv`` or ``xlsx``): the rows and filters of
    the roster page, the columns the user may see; recorded as a roster export. 403 without
    ``view_registration`` and ``export_roster``; 404 for an unknown class or format."""
    _require_view(request)
    if not request.user.has_perm(roles.EXPORT_ROSTER):
        raise PermissionDenied("Exporting a roster needs the export_roster permission.")
    offering = _offering(request, offering_id)
    if file_format not in EXPORT_FORMATS:
        raise Http404("Unknown export format.")
    queryset, _ = _selection(request, offering)
    part = "evening" if offering.part_of_day == Offering.PartOfDay.EVENING else "day"
    filename = f"citreg-roster-{offering.starts_on:%Y-%m-%d}-{part}.{file_format}"
    return recorded_export(
        request,
        StaffAccess.Action.ROSTER_EXPORT,
        queryset,
        roster.roster_rows(queryset, request.user),
        filename,
        file_format,
    )


def sign_in_sheet(request: HttpRequest, session_id: int) -> HttpResponse:
    """The printable sign-in sheet of one session: the course, the session's number, date and
    times in the class's zone, and one line per attendee holding a seat (by last name) with a
    signature box. 403 without ``view_registration``; 404 for an unknown session."""
    _require_view(request)
    session = get_object_or_404(Session.objects.select_related("offering__course"), pk=session_id)
    offering = session.offering
    if not may_open_roster(request, offering):
        raise PermissionDenied("This class is not one of yours.")
    sessions = list(offering.sessions.order_by("starts_at"))
    attendees = Registration.objects.filter(offering=offering, state__in=SEAT_STATES).order_by(
        "last_name", "first_name", "pk"
    )
    zone = offering.zone
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in sheet",
        "offering": offering,
        "session": session,
        "number": sessions.index(session) + 1,
        "of": len(sessions),
        "day": day_label(session.starts_at, zone),
        "times": time_range_label(session.starts_at, session.ends_at, zone),
        "attendees": attendees,
        "roster_url": roster_url(offering),
    }
    return TemplateResponse(request, "admin/registrations/sign_in_sheet.html", context)


@register_offering_counts
def offering_counts(queryset: QuerySet[Offering]) -> QuerySet[Offering]:
    """The offerings list's counts: seats taken (the seat rule), confirmed, waitlisted."""
    return with_seats_taken(queryset).annotate(
        confirmed_count=Count(
            "registrations", filter=Q(registrations__state=S.CONFIRMED), distinct=True
        ),
        waitlist_count=Count(
            "registrations", filter=Q(registrations__state=S.WAITLISTED), distinct=True
        ),
    )


@register_offering_panel
def roster_panel(offering: Offering) -> str:
    """The roster's summary on the offering's admin page: how many registrations, by state
    (each linking to the roster filtered by it), and links to the roster and its sign-in
    sheets."""
    counts = roster.state_counts(Registration.objects.filter(offering=offering))
    total = sum(count.count for count in counts)
    by_state = format_html_join(
        ", ",
        '<a href="{}">{} {}</a>',
        ((roster_url(offering, state=c.state), c.count, c.label.lower()) for c in counts),
    )
    sheets = format_html_join(
        " · ",
        '<a href="{}">session {}</a>',
        (
            (reverse("admin:session_sign_in_sheet", args=[session.pk]), number)
            for number, session in enumerate(offering.session_list, start=1)
        ),
    )
    return format_html(
        '<p><a href="{}" class="citreg-roster-link">Open the roster</a> ({} registration{}{}{}). '
        "Sign-in sheets: {}</p>",
        roster_url(offering),
        total,
        "" if total == 1 else "s",
        ": " if counts else "",
        by_state,
        sheets or "—",
    )


admin.site.register_view(
    "courses/offering/<int:offering_id>/roster/", roster_view, "offering_roster"
)
admin.site.register_view(
    "courses/offering/<int:offering_id>/roster/export/<str:file_format>/",
    roster_export,
    "offering_roster_export",
)
admin.site.register_view(
    "courses/session/<int:session_id>/sign-in-sheet/", sign_in_sheet, "session_sign_in_sheet"
)
