"""``registrations.payments.policy``: the policy's wording, as the terms page shows it."""

import pytest


# The policy pages come from a data migration, which transactional tests flush.
@pytest.mark.django_db
def test_terms_page_shows_the_policy_wording(client, course):
    page = client.get("/policies/terms/").content.decode()
    assert "Cancel at least 14 days before the first session: full refund." in page
    assert "50% refund" in page
