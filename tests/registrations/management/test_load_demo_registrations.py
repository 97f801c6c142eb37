"""``manage.py load_demo_registrations``: the local run's dashboard has something in every part,
and running it again adds nothing."""

import io

import pytest
from django.core.management import call_command

from registrations import eligibility
from registrations.models import AgencyDomain, Registration
from registrations.reports.dashboard import dashboard


@pytest.mark.django_db
def test_demo_registrations_fill_the_dashboard_once(course, schedule_2027):
    call_command("import_schedule", str(schedule_2027), stdout=io.StringIO())
    out = io.StringIO()
    call_command("load_demo_registrations", stdout=out)
    assert "Added 45 demo registrations to 3 classes." in out.getvalue()
    figures = dashboard()
    assert figures.awaiting_review_count == 3
    assert figures.attention_count == 1 and figures.failed_email_count == 1
    assert figures.nearly_full and figures.classes[0].waitlist == 3
    # The second class waits for its go/no-go decision today, with fewer than its minimum.
    assert [c.offering for c in figures.go_no_go] == [figures.classes[1].offering]
    assert figures.go_no_go[0].offering.minimum_attendees == 8
    call_command("load_demo_registrations", stdout=out)
    assert "nothing added" in out.getvalue()
    assert Registration.objects.count() == 45
    # The demo agencies are known: a work email there is eligible at once.
    assert AgencyDomain.objects.count() == 5
    assert eligibility.known_agency("ana@denver911.example.gov") is not None
