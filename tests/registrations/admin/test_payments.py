"""``registrations.admin.payments``: the needs-attention filter and the CSV export for finance
(it needs ``export_roster`` and is recorded); no page shows Stripe's checkout URL; webhook
events cannot be deleted, not even by a superuser, and their payloads are shown redacted."""

import pytest
from django.conf import settings
from django.test import Client

from registrations import links, roles
from registrations.models import Registration, StaffAccess
from registrations.payments.models import Payment, WebhookEvent
from tests.factories import registration_in
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import confirmed

PAYMENTS = "/admin/registrations/payment/"
EVENTS = "/admin/registrations/webhookevent/"


@pytest.mark.django_db(transaction=True)
def test_needs_attention_filter_and_csv_export(course, standin, client, admin_client):
    registration = confirmed(open_offering(course), standin, client)
    Registration.objects.filter(pk=registration.pk).update(needs_attention=True)
    listing = admin_client.get("/admin/registrations/registration/?needs_attention__exact=1")
    assert (
        f"/admin/registrations/registration/{registration.pk}/change/" in listing.content.decode()
    )
    payment = Payment.objects.get()
    response = admin_client.post(
        PAYMENTS, {"action": "export_csv", "_selected_action": [payment.pk]}
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header, row = body.strip().splitlines()
    assert header.startswith("date (UTC),registration,attendee,agency")
    assert ",250.00,USD,0.00," in row and payment.stripe_payment_intent_id in row
    assert registration.email not in row
    record = StaffAccess.objects.get()
    assert record.action == "payment_export" and record.object_ids == [payment.pk]


@pytest.fixture
def payment(course):
    registration = registration_in(Registration.State.CONFIRMED, open_offering(course))
    return Payment.objects.create(
        registration=registration, status="paid", amount_cents=25000, idempotency_key="idem-1",
        nonce="secret-nonce-value", stripe_checkout_session_id="cs_test_1",
        checkout_url="https://checkout.stripe.com/c/pay/cs_test_1#fid",
        stripe_payment_intent_id="pi_1",
    )  # fmt: skip


@pytest.mark.django_db
def test_the_finance_export_needs_export_roster(staff, payment):
    data = {"action": "export_csv", "_selected_action": [payment.pk]}
    viewer = staff("viewer", perms=["registrations.view_payment"])
    response = viewer.post(PAYMENTS, data, follow=True)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "export_csv" not in response.content.decode()  # no such action offered
    assert not StaffAccess.objects.exists()
    finance = staff("finance", groups=[roles.FINANCE])
    assert finance.post(PAYMENTS, data)["Content-Type"].startswith("text/csv")


@pytest.mark.django_db
def test_no_page_shows_the_checkout_url_or_the_nonce(staff, payment, admin_client):
    payment.amount_cents = 30000
    payment.save()  # a second version in the history
    finance = staff("finance", groups=[roles.FINANCE])
    version = payment.history.earliest()
    for client in (finance, admin_client):
        for url in (PAYMENTS, f"{PAYMENTS}{payment.pk}/change/", f"{PAYMENTS}{payment.pk}/history/",
                    f"{PAYMENTS}{payment.pk}/history/{version.history_id}/"):  # fmt: skip
            page = client.get(url)
            assert page.status_code == 200, url
            html = page.content.decode()
            assert "checkout.stripe.com" not in html and "secret-nonce-value" not in html, url
            assert "idem-1" not in html, url
        assert client.get(f"{PAYMENTS}?checkout_url__startswith=https").status_code == 400
        assert client.get(f"{PAYMENTS}?nonce__startswith=s").status_code == 400


@pytest.mark.django_db
def test_a_payment_lookup_on_a_hidden_registration_field_is_refused(staff, payment):
    Registration.objects.filter(pk=payment.registration_id).update(phone="303-555-0199")
    finance = staff("finance", groups=[roles.FINANCE])
    for lookup in ("registration__phone__contains=0199", "registration__email__startswith=a",
                   "registration__accessibility_needs__startswith=a"):  # fmt: skip
        assert finance.get(f"{PAYMENTS}?{lookup}").status_code == 400, lookup
    email = payment.registration.email
    assert finance.get(f"{PAYMENTS}?q={email}").context["cl"].result_count == 0
    last_name = payment.registration.last_name
    assert finance.get(f"{PAYMENTS}?q={last_name}").context["cl"].result_count == 1


@pytest.fixture
def event(payment):
    return WebhookEvent.objects.create(
        stripe_event_id="evt_1", type="checkout.session.completed", outcome="processed",
        payload={"data": {"object": {
            "id": "cs_test_1", "url": "https://checkout.stripe.com/c/pay/cs_test_1#fid",
            "success_url": f"{settings.SITE_URL}{links.manage_path(payment.registration)}payment/",
            "amount_total": 25000,
        }}},
    )  # fmt: skip


@pytest.mark.django_db
def test_a_superuser_cannot_delete_webhook_events(admin_client, event):
    listing = admin_client.get(EVENTS)
    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # no action at all: no bulk delete
    response = admin_client.post(
        EVENTS, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert admin_client.get(f"{EVENTS}{event.pk}/delete/").status_code == 403
    assert admin_client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert WebhookEvent.objects.filter(pk=event.pk).exists()
    page = admin_client.get(f"{EVENTS}{event.pk}/change/").content.decode()
    assert "/delete/" not in page


@pytest.mark.django_db
def test_a_webhook_payload_is_shown_without_its_links(admin_client, event):
    page = admin_client.get(f"{EVENTS}{event.pk}/change/").content.decode()
    assert "cs_test_1" in page and "25000" in page  # the rest is there
    assert "/r/manage/" not in page and "checkout.stripe.com" not in page
    assert "[personal link]" in page and "[checkout link]" in page
    assert admin_client.get(f"{EVENTS}?payload__icontains=manage").status_code == 400
    assert Client().get(f"{EVENTS}{event.pk}/change/").status_code == 302  # sign-in first
