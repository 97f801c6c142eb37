"""What every admin page that shows registrations shares: the field rule applied to columns,
search, filters and lookups (``registrations.roles.registration_fields_visible``), and CSV
exports that a spreadsheet cannot run as formulas.

A field a user may not see is not a column, not searched, not a filter, and a lookup naming it
in the URL (``?accessibility_needs__startswith=a``, ``?registration__phone__contains=5``) is
refused by ``lookup_allowed``, which Django answers with 400 (``DisallowedModelAdminLookup``).
Ordering (``?o=``) indexes the columns the user has, so a hidden field cannot be sorted on.
"""

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, StreamingHttpResponse

from courses.text import one_line
from registrations import roles
from registrations.models import Registration, StaffAccess

REGISTRATION_FIELDS = frozenset(field.name for field in Registration._meta.concrete_fields)
# Columns that are methods of an admin, by the registration field they show.
DISPLAY_FIELDS = {"full_name": "last_name"}


class ReadOnlyAdmin:
    """An admin mixin for records nobody edits or deletes here (refunds, Stripe's events, staff
    access records): they are written by the services and kept as evidence; viewing is the
    model's ordinary view permission. Superusers are refused too."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RegistrationFieldGuard:
    """Mixin for a ModelAdmin (before ``admin.ModelAdmin`` in the bases) whose pages show
    registration fields: the registration's own admin (``registration_path = ""``) or a
    related model's (``"registration__"`` for payments and emails)."""

    registration_path = ""

    def hidden_registration_fields(self, request: HttpRequest) -> frozenset[str]:
        """The registration fields ``request.user`` may not see."""
        return REGISTRATION_FIELDS - roles.registration_fields_visible(request.user)

    def refers_to_hidden_field(self, request: HttpRequest, lookup: str) -> bool:
        """True when ``lookup`` (a filter, search field, ordering or column) names a registration
        field ``request.user`` may not see."""
        path = lookup.lstrip("-^=@")
        if self.registration_path:
            if not path.startswith(self.registration_path):
                return False
            path = path[len(self.registration_path) :]
        name = path.split(LOOKUP_SEP, 1)[0]
        name = DISPLAY_FIELDS.get(name, name)
        if name not in REGISTRATION_FIELDS and name.endswith("_id"):
            name = name[:-3]  # an attname, e.g. offering_id
        return name in self.hidden_registration_fields(request)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if self.refers_to_hidden_field(request, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        fields = super().get_search_fields(request)  # type: ignore[misc]
        return [f for f in fields if not self.refers_to_hidden_field(request, f)]

    def get_list_display(self, request: HttpRequest) -> list:
        columns = super().get_list_display(request)  # type: ignore[misc]
        return [
            c
            for c in columns
            if not (isinstance(c, str) and self.refers_to_hidden_field(request, c))
        ]

    def get_list_filter(self, request: HttpRequest) -> list:
        filters = super().get_list_filter(request)  # type: ignore[misc]
        kept = []
        for item in filters:
            name = item[0] if isinstance(item, list | tuple) else item
            if isinstance(name, str) and self.refers_to_hidden_field(request, name):
                continue
            kept.append(item)
        return kept


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, on one line.

    Line breaks, tabs, other controls, bidi and zero-width characters become spaces and the
    ends are stripped (``courses.text.one_line``: an older row or an import may hold them, and a
    line break inside a cell breaks every tool that reads a CSV line by line); then a value that
    starts with ``= + - @`` (a formula, OWASP "CSV injection": the tab and carriage return it
    also lists are gone by then) gets a leading apostrophe.
    """
    text = one_line(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(rows: Iterable[Iterable[object]], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download of ``rows`` (the first is the header), each cell ``safe_cell``."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for row in rows:
            yield writer.writerow([safe_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def recorded_export(
    request: HttpRequest,
    action: str,
    queryset: QuerySet,
    rows: Iterable[Iterable[object]],
    filename: str,
) -> StreamingHttpResponse:
    """``csv_response(rows, filename)`` after recording that ``request.user`` exported the
    records of ``queryset`` (``StaffAccess``, ``action`` one of ``StaffAccess.Action``; the
    detail names the count, no personal data)."""
    exported = list(queryset.order_by("pk"))
    noun = queryset.model._meta.verbose_name
    StaffAccess.record(request.user, action, exported, detail=f"CSV, {len(exported)} {noun}(s)")
    return csv_response(rows, filename)
