"""``registrations.admin.attendance``: the attendance sheet, importing a report through its
preview, and what instructors may reach."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registrations import roles
from registrations.attendance.models import AttendanceImport, SessionAttendance

pytestmark = pytest.mark.django_db


def sheet_url(session) -> str:
    return reverse("admin:session_attendance", args=[session.pk])


def upload(client, session, data: bytes, name: str = "report.csv"):
    return client.post(
        sheet_url(session),
        {"action": "import", "report": SimpleUploadedFile(name, data, "text/csv")},
    )


def test_an_administrator_imports_reviews_and_applies_a_report(
    staff, december_class, attendees, zoom_day_1
):
    admin = staff("office", groups=[roles.TRAINING_ADMINISTRATOR])
    day_1 = december_class.session_list[0]
    page = admin.get(reverse("admin:courses_offering_change", args=[december_class.pk]))
    assert sheet_url(day_1) in page.content.decode()  # linked from the offering

    response = upload(admin, day_1, zoom_day_1, "zoom.csv")
    stored = AttendanceImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:attendance_import_review", args=[stored.pk])
    review = admin.get(response["Location"]).content.decode()
    assert "Matched: <strong>6</strong>" in review and "Not matched: <strong>1</strong>" in review
    iphone = stored.participants.get(name="iPhone (2)")

    response = admin.post(
        response["Location"], {"action": "apply", f"assign-{iphone.pk}": "ignore"}
    )
    assert response["Location"] == sheet_url(day_1)
    iphone.refresh_from_db()
    assert iphone.outcome == "ignored"
    ben = SessionAttendance.objects.get(registration=attendees["Ben"], session=day_1)
    assert ben.minutes == Decimal("237.6")
    html = admin.get(sheet_url(day_1)).content.decode()
    assert "237.6" in html and "Applied" in html


def test_a_bad_file_says_why_and_creates_nothing(staff, december_class, attendees):
    admin = staff("office", groups=[roles.TRAINING_ADMINISTRATOR])
    day_1 = december_class.session_list[0]
    response = upload(admin, day_1, b"Name,Join Time,Leave Time\nAna,soon,later\n")
    assert response.status_code == 200
    assert "Line 2: cannot read the join or leave time" in response.content.decode()
    assert AttendanceImport.objects.count() == 0


def test_marks_are_saved_from_the_sheet(staff, december_class, attendees):
    admin = staff("office", groups=[roles.TRAINING_ADMINISTRATOR])
    day_1 = december_class.session_list[0]
    dev = attendees["Dev"]
    response = admin.post(
        sheet_url(day_1),
        {"action": "marks", f"mark-{dev.pk}": "present", f"excuse-{dev.pk}": ""},
    )
    assert response.status_code == 302
    row = SessionAttendance.objects.get(registration=dev, session=day_1)
    assert row.marked == "present" and row.history.first().history_user == admin.user


def test_instructors_reach_only_their_classes(staff, december_class, attendees, zoom_day_1):
    instructor = staff("teacher", groups=[roles.INSTRUCTOR])
    day_1 = december_class.session_list[0]
    offerings = reverse("admin:courses_offering_changelist")
    assert instructor.get(sheet_url(day_1)).status_code == 403
    assert str(december_class) not in instructor.get(offerings).content.decode()
    assert (
        instructor.get(
            reverse("admin:courses_offering_change", args=[december_class.pk])
        ).status_code
        == 302  # not theirs: the admin says it does not exist
    )

    december_class.instructors.add(instructor.user)
    assert instructor.get(sheet_url(day_1)).status_code == 200
    assert upload(instructor, day_1, zoom_day_1).status_code == 302  # they import
    # ...but do not finalise (that completes registrations), nor see payments.
    assert instructor.post(sheet_url(day_1), {"action": "finalise"}).status_code == 403
    assert not instructor.user.has_perm("registrations.view_payment")
    change = instructor.get(reverse("admin:courses_offering_change", args=[december_class.pk]))
    html = change.content.decode()
    assert 'name="meeting_url"' in html and 'name="capacity"' not in html


def test_the_roster_shows_attendance_once_a_session_started(
    staff, december_class, attendees, zoom_day_1
):
    admin = staff("office", groups=[roles.TRAINING_ADMINISTRATOR])
    upload(admin, december_class.session_list[0], zoom_day_1)
    stored = AttendanceImport.objects.get()
    admin.post(
        reverse("admin:attendance_import_review", args=[stored.pk]),
        {
            "action": "apply",
            **{f"assign-{p.pk}": "ignore" for p in stored.participants.filter(outcome="unmatched")},
        },
    )
    roster = admin.get(reverse("admin:offering_roster", args=[december_class.pk]))
    html = roster.content.decode()
    assert "Day 1: 237.6 min ✓; Day 2: —" in html  # Ben
    assert "Day 1: 75.0 min ✗" in html  # Dev, below the minimum


def test_names_a_participant_typed_are_shown_as_text(staff, december_class, attendees):
    admin = staff("office", groups=[roles.TRAINING_ADMINISTRATOR])
    report = (
        "Name,Email,Join Time,Leave Time\n"
        '"<script>alert(1)</script>",x@evil.example,12/12/2024 09:00 AM,12/12/2024 10:00 AM\n'
        '=HYPERLINK("http://evil.example"),,12/12/2024 09:00 AM,12/12/2024 10:00 AM\n'
        "\u202eevil\u200b name,,12/12/2024 09:00 AM,12/12/2024 10:00 AM\n"
    ).encode()
    response = upload(admin, december_class.session_list[0], report)
    html = admin.get(response["Location"]).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "=HYPERLINK(&quot;http://evil.example&quot;)" in html


def test_finalising_asks_for_the_tick_and_then_no_report_is_taken(
    staff, december_class, attendees, zoom_day_1
):
    admin = staff("office", groups=[roles.TRAINING_ADMINISTRATOR])
    day_1 = december_class.session_list[0]
    admin.post(sheet_url(day_1), {"action": "finalise"})
    assert not hasattr(type(day_1).objects.get(pk=day_1.pk), "finalisation")  # not without it
    admin.post(sheet_url(day_1), {"action": "finalise", "complete": "yes"})
    day_1 = type(day_1).objects.get(pk=day_1.pk)
    assert day_1.finalisation.finalised_by == admin.user
    response = upload(admin, day_1, zoom_day_1)
    assert "it can no longer change" in response.content.decode()
    assert AttendanceImport.objects.count() == 0
