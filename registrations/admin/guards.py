"""What every admin page that shows registrations shares: the field rule applied to columns,
search, filters and lookups (``registrations.roles.registration_fields_visible``), and CSV and
XLSX exports that a spreadsheet cannot run as formulas (``safe_cell``, the one rule for both).

A field a user may not see is not a column, not searched, not a filter, and a lookup naming it
in the URL (``?accessibility_needs__startswith=a``, ``?registration__phone__contains=5``) is
refused by ``lookup_allowed``, which Django answers with 400 (``DisallowedModelAdminLookup``).
Ordering (``?o=``) indexes the columns the user has, so a hidden field cannot be sorted on.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.styles import Font

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


def safe_cell(value: object) -> str | int | float | Decimal:
    """An export cell a spreadsheet shows as it is, on one line: numbers stay numbers, text
    stays text.

    ``int``, ``float`` and ``Decimal`` values (ids, counts, amounts in dollars) are returned as
    they are: a number is never run as a formula, and a spreadsheet can add them up. Anything
    else is text: line breaks, tabs, other controls, bidi and zero-width characters become
    spaces and the ends are stripped (``courses.text.one_line``: an older row or an import may
    hold them, and a line break inside a cell breaks every tool that reads a CSV line by line);
    then text that starts with ``= + - @`` (a formula, OWASP "CSV injection": the tab and
    carriage return it also lists are gone by then) gets a leading apostrophe. The same cell goes
    into the CSV and the XLSX, so both exports hold the same rows.
    """
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = one_line(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


BYTE_ORDER_MARK = "\ufeff"


def csv_response(rows: Iterable[Iterable[object]], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download of ``rows`` (the first is the header), each cell ``safe_cell``,
    UTF-8 with a byte-order mark first, so Excel on Windows reads accented and non-Latin names
    as UTF-8 instead of the local code page."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield BYTE_ORDER_MARK
        for row in rows:
            yield writer.writerow([safe_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# How a Decimal cell (an amount in dollars) is shown in the XLSX.
MONEY_FORMAT = "#,##0.00"


def xlsx_response(rows: Iterable[Iterable[object]], filename: str) -> HttpResponse:
    """An XLSX download (openpyxl) of ``rows``: one sheet, the first row the header (bold,
    frozen), each cell ``safe_cell`` so it holds exactly what the CSV holds; text is stored as
    text (never as a formula), numbers as numbers, Decimal amounts shown with two places."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Roster" if "roster" in filename else "Export"
    for number, row in enumerate(rows):
        cells = [safe_cell(cell) for cell in row]
        sheet.append(cells)
        for column, value in enumerate(cells, start=1):
            cell = sheet.cell(row=number + 1, column=column)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl reads a leading "=" as a formula otherwise
            elif isinstance(value, Decimal):
                cell.number_format = MONEY_FORMAT
            if number == 0:
                cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


EXPORT_FORMATS = {"csv": csv_response, "xlsx": xlsx_response}


def recorded_export(
    request: HttpRequest,
    action: str,
    queryset: QuerySet,
    rows: Iterable[Iterable[object]],
    filename: str,
    file_format: str = "csv",
) -> HttpResponse | StreamingHttpResponse:
    """The download of ``rows`` as ``file_format`` (``csv_response`` or ``xlsx_response``;
    ``filename`` without its extension gets it) after recording that ``request.user`` exported
    the records of ``queryset`` (``StaffAccess``, ``action`` one of ``StaffAccess.Action``; the
    detail names the format and the count, no personal data).

    Raises: KeyError for a format not in ``EXPORT_FORMATS``."""
    respond = EXPORT_FORMATS[file_format]
    if not filename.endswith(f".{file_format}"):
        filename = f"{filename.rsplit('.', 1)[0] if '.' in filename else filename}.{file_format}"
    exported = list(queryset.order_by("pk"))
    noun = queryset.model._meta.verbose_name
    detail = f"{file_format.upper()}, {len(exported)} {noun}(s)"
    StaffAccess.record(request.user, action, exported, detail=detail)
    return respond(rows, filename)
