"""``registrations.admin.payments``: the needs-attention filter and the CSV export for finance."""

import pytest

from registrations.models import Registration
from registrations.payments.models import Payment
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import confirmed

pytestmark = pytest.mark.django_db(transaction=True)


def test_needs_attention_filter_and_csv_export(course, standin, client, admin_client):
    registration = confirmed(open_offering(course), standin, client)
    Registration.objects.filter(pk=registration.pk).update(needs_attention=True)
    listing = admin_client.get("/admin/registrations/registration/?needs_attention__exact=1")
    assert (
        f"/admin/registrations/registration/{registration.pk}/change/" in listing.content.decode()
    )
    payment = Payment.objects.get()
    response = admin_client.post(
        "/admin/registrations/payment/", {"action": "export_csv", "_selected_action": [payment.pk]}
    )
    body = b"".join(response.streaming_content).decode()
    header, row = body.strip().splitlines()
    assert header.startswith("date (UTC),registration,attendee")
    assert ",250.00,USD,0.00," in row and payment.stripe_payment_intent_id in row
