"""Known agency domains, and the rules about which email domains can prove employment."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

# Free email providers: addresses anyone can get, so they never prove employment.
WEBMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com",
        "outlook.com", "hotmail.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com",
        "mac.com", "proton.me", "protonmail.com", "pm.me", "gmx.com", "gmx.us", "mail.com",
        "zoho.com", "yandex.com", "hey.com", "fastmail.com", "tutanota.com", "comcast.net",
        "att.net", "sbcglobal.net", "verizon.net", "cox.net", "charter.net", "earthlink.net",
    }
)  # fmt: skip


def email_domain(address: str) -> str:
    """The lower-cased domain of an email address ("" when there is none)."""
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def is_webmail(domain: str) -> bool:
    """True for a webmail domain or any subdomain of one (e.g. ``us.yahoo.com``)."""
    return any(domain == w or domain.endswith("." + w) for w in WEBMAIL_DOMAINS)


def validate_agency_domain(domain: str) -> str:
    """Normalise a domain staff want to list; return it lower-cased without a leading "@".

    Raises: ValidationError for webmail domains, and for values that are not a domain name.
    """
    domain = domain.strip().lower().lstrip("@").rstrip(".")
    if "." not in domain or " " in domain or "@" in domain:
        raise ValidationError(f"{domain!r} is not a domain name such as denver911.gov.")
    if is_webmail(domain):
        raise ValidationError(
            f"{domain} is a webmail domain: anyone can have an address there, so it cannot "
            "prove employment at a call center."
        )
    return domain


class AgencyDomain(models.Model):
    """An email domain staff know belongs to an emergency call center (911 centre / PSAP).

    A confirmed work email on this domain, or on any subdomain of it, makes a registrant eligible
    at once (``registrations.eligibility``). Webmail domains can never be listed.
    """

    domain = models.CharField(max_length=253, unique=True, help_text="e.g. denver911.gov")
    agency_name = models.CharField(max_length=200)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["domain"]
        verbose_name = "known agency domain"

    def __str__(self) -> str:
        return f"{self.domain} ({self.agency_name})"

    def clean(self) -> None:
        self.domain = validate_agency_domain(self.domain)
