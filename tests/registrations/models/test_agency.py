"""``registrations.models.agency``: listed domains are stored in one form (IDNA), and neither a
look-alike of a listed domain nor a webmail domain can be listed."""

import pytest
from django.core.exceptions import ValidationError

from registrations import addresses
from registrations.models import AgencyDomain
from registrations.models.agency import email_domain, refuse_lookalike, validate_agency_domain

pytestmark = pytest.mark.django_db


def test_domains_are_stored_as_idna_whatever_form_staff_type():
    assert validate_agency_domain(" @Bücher.Example. ") == "xn--bcher-kva.example"
    row = AgencyDomain.objects.create(domain="MÜNCHEN.example", agency_name="München 112")
    assert row.domain == "xn--mnchen-3ya.example"  # also without clean(), e.g. get_or_create
    clone = AgencyDomain(domain="xn--mnchen-3ya.example", agency_name="again")
    with pytest.raises(ValidationError, match="already exists"):
        clone.full_clean()  # the xn-- form and the Unicode form are the same domain


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("denver911.g\u043ev", "mixes Cyrillic and Latin"),  # Cyrillic о
        ("denver911.g\u03bfv", "mixes Greek and Latin"),  # Greek ο
        ("denver911.gov\u200b", "ZERO WIDTH SPACE"),
        ("\uff44enver911.gov", "FULLWIDTH"),
        ("denver911.xn--gv-fmc", "mixes Cyrillic and Latin"),
        ("d\u00e9nver911.example.gov", "looks like denver911.example.gov"),  # é: all Latin
        ("mail.d\u00e9nver911.example.gov", "looks like denver911.example.gov"),
        ("xn--dnver911-b1a.example.gov", "looks like denver911.example.gov"),  # the same, xn--
        ("\u0261mail.com", "looks like gmail.com"),  # LATIN SMALL LETTER SCRIPT G
        ("GMail.com", "webmail domain"),
        ("denver911", "not a domain name"),
        ("a..b", "not a domain name"),
        ("-denver911.gov", "not a domain name"),
        ("denver_911.gov", "not a domain name"),
        ("https://denver911.gov/", "not a web address"),
        ("denver911.gov/psap", "not a web address"),
    ],
)
def test_look_alikes_webmail_and_non_domains_cannot_be_listed(agency, typed, message):
    with pytest.raises(ValidationError) as refusal:
        AgencyDomain(domain=typed, agency_name="Not Denver").full_clean()
    assert message in " ".join(refusal.value.messages)


def test_a_genuine_idn_domain_and_its_own_subdomains_are_not_look_alikes(agency):
    listed = AgencyDomain(domain="bücher.example", agency_name="Bücher 112")
    listed.full_clean()
    listed.save()
    listed.full_clean()  # editing it again: not a look-alike of itself
    refuse_lookalike("leitstelle.xn--bcher-kva.example")  # a subdomain of the listed domain
    refuse_lookalike("denver911.example.gov")  # ASCII: shown as it is, never compared
    with pytest.raises(ValidationError, match="looks like bücher.example"):
        refuse_lookalike(addresses.normalise_domain("bûcher.example"))


def test_email_domain_is_normalised_and_empty_when_untrustworthy():
    assert email_domain("Ana@Bücher.Example.") == "xn--bcher-kva.example"
    assert email_domain("ana@denver911.g\u043ev") == ""
    assert email_domain("ana@denver911.gov\u200b") == ""
    assert email_domain("no address") == ""


def test_an_empty_domain_is_one_error_the_required_one(db):
    with pytest.raises(ValidationError) as refusal:
        AgencyDomain(domain="", agency_name="Denver").full_clean()
    assert refusal.value.message_dict == {"domain": ["This field cannot be blank."]}
