"""``registrations.messaging.admin``: the outbox's "send again" action; what a message said
needs ``view_email_body`` (page, search and lookups), and is shown without working links."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from registrations import links, roles
from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import registration_in
from tests.registrations.helpers import open_offering, queue_email

Status = OutboundEmail.Status
EMAILS = "/admin/registrations/outboundemail/"


@pytest.mark.django_db
def test_admin_send_again_action(admin_client, published):
    failed = queue_email("test:failed")
    OutboundEmail.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    response = admin_client.post(
        EMAILS, {"action": "send_again", "_selected_action": [failed.pk]}, follow=True
    )
    assert "1 message(s) queued again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == Status.QUEUED


def client_for(django_user_model, name: str, *, body: bool) -> Client:
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.TRAINING_ADMINISTRATOR))
    if body:
        user.user_permissions.add(Permission.objects.get(codename="view_email_body"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def old_row(course) -> OutboundEmail:
    """A sent message stored before redaction existed: a live manage link in its body."""
    registration = registration_in(Registration.State.ELIGIBLE, open_offering(course))
    link = links.manage_url(registration)
    return OutboundEmail.objects.create(
        kind="manage_link", dedupe_key="old", to_email=registration.email, status="sent",
        registration=registration, template="emails/manage_link", sent_at=timezone.now(),
        subject="Your registration", text_body=f"Private words. Open {link}",
        html_body=f'<p>Private words.</p><a href="{link}">open</a>', context={"manage_url": link},
    )  # fmt: skip


@pytest.mark.django_db
def test_opening_a_body_needs_view_email_body_and_shows_no_working_link(django_user_model, old_row):
    page = f"{EMAILS}{old_row.pk}/change/"
    trainer = client_for(django_user_model, "trainer", body=False)
    html = trainer.get(page).content.decode()
    assert old_row.to_email in html and "Your registration" in html  # the envelope
    assert "Private words" not in html and "/r/manage/" not in html
    for lookup in ("text_body__icontains=private", "html_body__contains=a",
                   "context__manage_url__contains=r", "attachments__contains=x"):  # fmt: skip
        assert trainer.get(f"{EMAILS}?{lookup}").status_code == 400, lookup
    reader = client_for(django_user_model, "reader", body=True)
    html = reader.get(page).content.decode()
    assert "Private words" in html and html.count(outbox.PERSONAL_LINK) >= 3
    assert "/r/manage/" not in html
    assert reader.get(f"{EMAILS}?text_body__icontains=private").status_code == 200
