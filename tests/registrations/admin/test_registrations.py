"""``registrations.admin.registrations``: accessibility needs need their own permission; staff
cannot correct an email onto another registration's address."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from courses.models import Offering
from registrations.models import Registration
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import eligible


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


@pytest.mark.django_db
def test_accessibility_needs_need_the_dedicated_permission(admin_user, offering, django_user_model):
    registration = Registration.objects.create(
        offering=offering, email="a@e.gov", first_name="A", last_name="B", role="other",
        employer_name="E", employer_city="C", employer_state="CO", work_email="a@e.gov",
        supervisor_name="S", supervisor_email="s@e.gov", attested_at=timezone.now(),
        participation_acknowledged_at=timezone.now(), terms_accepted_at=timezone.now(),
        accessibility_needs="Sign language interpreter",
    )  # fmt: skip
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_registration"))
    client = Client()
    client.force_login(staff)
    url = f"/admin/registrations/registration/{registration.pk}/change/"
    assert b"Sign language interpreter" not in client.get(url).content
    staff.user_permissions.add(Permission.objects.get(codename="view_accessibility_needs"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert b"Sign language interpreter" in client.get(url).content


@pytest.mark.django_db
def test_admin_refuses_an_email_clash(admin_client, offering):
    registration = eligible(offering, email="oscar@example.org")
    eligible(offering, email="gina@example.org")
    url = f"/admin/registrations/registration/{registration.pk}/change/"
    data = {
        "first_name": "Oscar", "last_name": "T", "email": "Gina@example.org", "phone": "",
        "role": "other", "pending_email": "", "needs_attention": "", "attention_reason": "",
        **{f"{prefix}-{suffix}": "0" for prefix in ("payments", "events", "emails")
           for suffix in ("TOTAL_FORMS", "INITIAL_FORMS")},
    }  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Another active registration for this class already uses this email." in (
        response.content.decode()
    )
