"""A class's roster (``registrations.admin.roster``, ``registrations.reports.roster``): its
counts, columns by permission, filters and search, its actions, the CSV and XLSX exports
(formulas neutralised in both, Unicode intact, the same rows, amounts as numbers, times with
their zone, recorded, refused without ``export_roster``), the sign-in sheet and the summary on
the offering's page."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from registrations import roles
from registrations.models import Registration, StaffAccess
from tests.factories import make_offering

from .every_state import every_state, in_state, paid

S = Registration.State
VIEW = "registrations.view_registration"


def roster_url(offering, query: str = "") -> str:
    return f"/admin/courses/offering/{offering.pk}/roster/{query}"


def export_url(offering, file_format: str, query: str = "") -> str:
    return f"/admin/courses/offering/{offering.pk}/roster/export/{file_format}/{query}"


@pytest.fixture
def admin(staff):
    return staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])


@pytest.fixture
def world(course):
    return every_state(course, timezone.localdate() + timedelta(days=20))


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # a byte-order mark: Excel reads it as UTF-8
    body = body[1:]
    return list(csv.reader(io.StringIO(body, newline="")))


def xlsx_rows(response) -> tuple[list[list[object]], object]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(response.content))
    sheet = workbook.active
    return [list(row) for row in sheet.iter_rows(values_only=True)], sheet


@pytest.mark.django_db
def test_the_roster_counts_each_state_and_shows_every_registration(world, admin):
    offering, people, lapsed = world
    page = admin.get(roster_url(offering))
    assert page.status_code == 200
    counts = {count.state: count.count for count, _ in page.context["counts"]}
    assert counts == dict.fromkeys(people, 1) | {S.WAITLISTED: 2, S.HELD: 2}
    assert page.context["total"] == len(people) + 2
    assert page.context["seats"] == {"taken": 4, "held": 1, "waitlisted": 2}
    assert len(page.context["rows"]) == len(people) + 2
    # Each count links to the roster filtered by it.
    for count, url in page.context["counts"]:
        assert len(admin.get(url).context["rows"]) == count.count


@pytest.mark.django_db
def test_the_columns_follow_the_field_rule(world, staff, admin):
    offering, people, _ = world
    titles = [c.title for c in admin.get(roster_url(offering)).context["columns"]]
    assert titles[:14] == [  # then the columns other packages add (register_column)
        "registration",
        "first name",
        "last name",
        "course email",
        "work email",
        "phone",
        "role",
        "agency",
        "city",
        "state",
        "status",
        "registered",
        "paid",
        "refunded",
    ]  # fmt: skip  (the exports add "class"; the page is one class's)
    finance = staff("finance", groups=[roles.FINANCE])
    titles = [c.title for c in finance.get(roster_url(offering)).context["columns"]]
    assert {"course email", "work email", "phone", "role"}.isdisjoint(titles)
    assert {"first name", "agency", "status", "paid", "refunded"} <= set(titles)
    viewer = staff("viewer", perms=[VIEW, roles.EXPORT_ROSTER])
    assert "phone" not in [c.title for c in viewer.get(roster_url(offering)).context["columns"]]
    contact = staff("contact", perms=[VIEW, roles.EXPORT_ROSTER, roles.VIEW_CONTACT_DETAILS])
    assert "phone" in [c.title for c in contact.get(roster_url(offering)).context["columns"]]
    nobody = staff("nobody")
    assert nobody.get(roster_url(offering)).status_code == 403


@pytest.mark.django_db
def test_an_instructor_sees_only_their_classes_and_no_money(world, staff):
    offering, people, _ = world
    teacher = staff("teacher", groups=[roles.INSTRUCTOR])
    sheet = f"/admin/courses/session/{offering.session_list[0].pk}/sign-in-sheet/"
    assert teacher.get(roster_url(offering)).status_code == 403
    assert teacher.get(sheet).status_code == 403
    offering.instructors.add(teacher.user)
    page = teacher.get(roster_url(offering))
    assert page.status_code == 200
    titles = [c.title for c in page.context["columns"]]
    assert "first name" in titles and not {"paid", "refunded", "phone"} & set(titles)
    assert page.context["actions"] == [] and not page.context["may_export"]
    assert teacher.get(sheet).status_code == 200
    assert teacher.get(export_url(offering, "csv")).status_code == 403


@pytest.mark.django_db
def test_amounts_are_dollars(world, admin):
    offering, people, _ = world
    page = admin.get(roster_url(offering, f"?state={S.CONFIRMED}"))
    [(registration, cells)] = page.context["rows"]
    assert registration.pk == people[S.CONFIRMED].pk
    titles = [c.title for c in page.context["columns"]]
    paid_at = titles.index("paid")
    assert cells[paid_at : paid_at + 2] == ["$250.00", "$50.00"]


@pytest.mark.django_db
def test_filters_and_search(world, admin, staff):
    offering, people, _ = world
    rows = admin.get(roster_url(offering, "?seat=held")).context["rows"]
    assert [r.pk for r, _ in rows] == [people[S.HELD].pk]  # not the lapsed hold
    rows = admin.get(roster_url(offering, f"?q=P-{S.REFUNDED}")).context["rows"]
    assert [r.pk for r, _ in rows] == [people[S.REFUNDED].pk]
    rows = admin.get(roster_url(offering, "?role=call_taker&seat=taken")).context["rows"]
    assert len(rows) == 4
    # The phone is searched only for who may see it.
    Registration.objects.filter(pk=people[S.CONFIRMED].pk).update(phone="720-555-0142")
    assert len(admin.get(roster_url(offering, "?q=555-0142")).context["rows"]) == 1
    finance = staff("finance", groups=[roles.FINANCE])
    assert finance.get(roster_url(offering, "?q=555-0142")).context["rows"] == []


@pytest.mark.django_db
def test_actions_from_the_roster_act_on_this_class_only(world, admin, course):
    offering, people, _ = world
    elsewhere = make_offering(course, timezone.localdate() + timedelta(days=60))
    stranger = in_state(elsewhere, S.PENDING_REVIEW)
    page = admin.get(roster_url(offering))
    assert [name for name, _ in page.context["actions"]] == [
        "email_selected", "approve", "reject", "cancel_and_refund", "refund_only",
        "transfer_to_another_class", "substitute_a_colleague",
    ]  # fmt: skip
    target = people[S.PENDING_REVIEW]
    response = admin.post(
        roster_url(offering), {"action": "approve", "_selected_action": [target.pk, stranger.pk]}
    )
    assert response.status_code == 302 and response["Location"] == roster_url(offering)
    assert Registration.objects.get(pk=target.pk).state == S.ELIGIBLE
    assert Registration.objects.get(pk=stranger.pk).state == S.PENDING_REVIEW
    # Email the selected: a new broadcast to exactly them.
    confirmed = people[S.CONFIRMED]
    response = admin.post(
        roster_url(offering), {"action": "email_selected", "_selected_action": [confirmed.pk]}
    )
    assert response.status_code == 302
    assert f"selected={confirmed.pk}" in response["Location"]
    assert response["Location"].startswith("/admin/registrations/broadcast/add/")
    # Cancel and refund opens its form, which posts back to the roster.
    response = admin.post(
        roster_url(offering), {"action": "cancel_and_refund", "_selected_action": [confirmed.pk]}
    )
    assert response.status_code == 200
    assert b'name="action" value="cancel_and_refund"' in response.content
    assert not re.search(rb'<form[^>]*action="/admin/registrations/', response.content)
    # An action the roster does not offer is refused.
    response = admin.post(
        roster_url(offering), {"action": "export_roster", "_selected_action": [confirmed.pk]}
    )
    assert response.status_code == 302 and not StaffAccess.objects.exists()


HOSTILE = {
    "first_name": '=HYPERLINK("http://evil.example","x")',
    "last_name": "+cmd|' /C calc'!A0",
    "employer_name": "-2+3",
    "employer_city": "@SUM(A1)",
}


@pytest.mark.django_db
def test_exports_neutralise_formulas_keep_unicode_and_agree(world, admin):
    offering, people, _ = world
    hostile = in_state(offering, S.CONFIRMED, **HOSTILE)
    paid(hostile, cents=12345)
    tab = in_state(offering, S.CONFIRMED, first_name="\t=1+1", last_name="\r=2")
    unicode = in_state(
        offering,
        S.CONFIRMED,
        first_name="Zoë Ñúñez",
        last_name="李小龍 😀",
        employer_name="Ålesund 911",
    )
    rows = csv_rows(admin.get(export_url(offering, "csv")))
    sheet_rows, sheet = xlsx_rows(admin.get(export_url(offering, "xlsx")))
    header = rows[0]
    assert header.count("registration") == 1 and rows[1][0] != "registration"  # one header row
    assert sheet_rows[0] == header
    assert len(rows) == len(sheet_rows) == 1 + len(people) + 2 + 3
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert by_id[hostile.pk]["first name"] == "'" + HOSTILE["first_name"]
    assert by_id[hostile.pk]["last name"] == "'" + HOSTILE["last_name"]
    assert by_id[hostile.pk]["agency"] == "'-2+3"
    assert by_id[hostile.pk]["city"] == "'@SUM(A1)"
    assert by_id[tab.pk]["first name"] == "'=1+1" and by_id[tab.pk]["last name"] == "'=2"
    assert by_id[unicode.pk]["first name"] == "Zoë Ñúñez"
    assert by_id[unicode.pk]["last name"] == "李小龍 😀"
    assert by_id[hostile.pk]["paid"] == "123.45" and by_id[hostile.pk]["refunded"] == "0.00"
    # No cell of either file is a formula.
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.value
            if isinstance(cell.value, str):
                assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), cell.value
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not cell.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", cell), cell
    # The XLSX holds the CSV's rows; ids and amounts are numbers there, amounts shown in dollars.
    money = [header.index("paid"), header.index("refunded")]
    for csv_row, xlsx_row in zip(rows[1:], sheet_rows[1:], strict=True):
        assert isinstance(xlsx_row[0], int)
        for index in money:
            assert isinstance(xlsx_row[index], int | float)
            assert Decimal(csv_row[index]) == Decimal(str(xlsx_row[index])).quantize(
                Decimal("0.01")
            )
        texts = [str(v) if v is not None else "" for v in xlsx_row]
        assert [t for i, t in enumerate(texts) if i not in money and i] == [
            c for i, c in enumerate(csv_row) if i not in money and i
        ]
    paid_column = header.index("paid") + 1
    assert sheet.cell(row=2, column=paid_column).number_format == "#,##0.00"
    # Times carry their zone.
    for row in rows[1:]:
        registered = row[header.index("registered")]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d M[SD]T", registered), registered


@pytest.mark.django_db
def test_an_export_follows_the_filters_and_is_recorded(world, admin):
    offering, people, _ = world
    rows = csv_rows(admin.get(export_url(offering, "csv", "?seat=taken")))
    assert len(rows) == 1 + 4
    sheet_rows, _ = xlsx_rows(admin.get(export_url(offering, "xlsx", "?seat=taken")))
    assert len(sheet_rows) == 1 + 4
    records = list(StaffAccess.objects.order_by("pk"))
    assert [(r.user, r.action, r.detail) for r in records] == [
        (admin.user, "roster_export", "CSV, 4 registration(s)"),
        (admin.user, "roster_export", "XLSX, 4 registration(s)"),
    ]
    seat_states = [S.CONFIRMED, S.COMPLETED, S.PROCESSING, S.HELD]
    assert records[0].object_ids == sorted(people[s].pk for s in seat_states)


@pytest.mark.django_db
def test_no_export_without_the_permission(world, staff):
    offering, _, _ = world
    reviewer = staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER])
    page = reviewer.get(roster_url(offering))
    assert page.status_code == 200 and not page.context["may_export"]
    assert b"roster-export" not in page.content
    for file_format in ("csv", "xlsx"):
        assert reviewer.get(export_url(offering, file_format)).status_code == 403
    exporter = staff("exporter", perms=[roles.EXPORT_ROSTER])  # cannot see registrations
    assert exporter.get(export_url(offering, "csv")).status_code == 403
    assert not StaffAccess.objects.exists()
    finance = staff("finance", groups=[roles.FINANCE])
    assert finance.get(export_url(offering, "xlsx")).status_code == 200
    assert finance.get(export_url(offering, "pdf")).status_code == 404


@pytest.mark.django_db
def test_the_sign_in_sheet_lists_the_attendees_under_the_session_times(world, admin, staff):
    offering, people, _ = world
    first, second = offering.session_list
    page = admin.get(f"/admin/courses/session/{second.pk}/sign-in-sheet/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Session 2 of 2" in html
    assert page.context["day"] in html and page.context["times"] in html
    assert re.fullmatch(r"9:00 am – 1:00 pm M[SD]T", page.context["times"])
    listed = {r.pk for r in page.context["attendees"]}
    assert listed == {people[s].pk for s in (S.CONFIRMED, S.COMPLETED, S.PROCESSING)}
    assert (
        "css/admin-roster.css" in html
        and "@media print" in open("static/css/admin-roster.css", encoding="utf-8").read()
    )
    assert (
        staff("nobody").get(f"/admin/courses/session/{first.pk}/sign-in-sheet/").status_code == 403
    )
    roster_page = admin.get(roster_url(offering)).content.decode()
    assert f"/admin/courses/session/{first.pk}/sign-in-sheet/" in roster_page


@pytest.mark.django_db
def test_the_offering_page_shows_the_roster_summary(world, admin):
    offering, people, _ = world
    html = admin.get(f"/admin/courses/offering/{offering.pk}/change/").content.decode()
    assert f'href="{roster_url(offering)}"' in html
    assert f"({len(people) + 2} registrations: " in html
    assert f'href="{roster_url(offering)}?state=waitlisted">2 waitlisted</a>' in html
