"""Known agency domains, and the rules about which email domains can prove employment."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator
from django.db import models
from simple_history.models import HistoricalRecords

from registrations import addresses

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
    """The normalised domain of an email address: lower-case IDNA A-labels without a trailing
    dot (``registrations.addresses.normalise_domain``); "" when there is none, or when it cannot
    be trusted (invisible characters, mixed scripts: such a domain proves nothing)."""
    _, at, domain = address.rpartition("@")
    if not at:
        return ""
    try:
        return addresses.normalise_domain(domain)
    except ValidationError:
        return ""


def is_webmail(domain: str) -> bool:
    """True for a webmail domain or any subdomain of one (e.g. ``us.yahoo.com``)."""
    return any(domain == w or domain.endswith("." + w) for w in WEBMAIL_DOMAINS)


def refuse_lookalike(domain: str, *, exclude_pk: int | None = None) -> None:
    """Refuse a domain that looks like a listed agency domain or a webmail domain but is
    another one (``dénver911.gov`` beside a listed ``denver911.gov``).

    Args:
        domain: normalised (``addresses.normalise_domain``). An all-ASCII domain is shown as it
            is, so it is not compared (and costs no query).
        exclude_pk: an ``AgencyDomain`` not to compare with (the one being edited).

    Raises: ValidationError naming the domain it imitates. The domain itself, or a subdomain of
    the one it resembles, is not a look-alike.
    """
    shown = addresses.display_domain(domain)
    if shown.isascii():
        return
    mine = addresses.skeleton(domain)
    listed = AgencyDomain.objects.all()
    if exclude_pk is not None:
        listed = listed.exclude(pk=exclude_pk)
    for other in [*listed.values_list("domain", flat=True), *sorted(WEBMAIL_DOMAINS)]:
        try:
            other = addresses.normalise_domain(other)
        except ValidationError:
            continue
        if domain == other or domain.endswith("." + other):
            continue
        theirs = addresses.skeleton(other)
        if mine == theirs or mine.endswith("." + theirs):
            raise ValidationError(
                f"“{shown}” looks like {addresses.display_domain(other)} but is a different "
                "domain. Please check the address and type it again.",
                code="lookalike",
            )


def validate_agency_domain(domain: str, *, exclude_pk: int | None = None) -> str:
    """Normalise a domain staff want to list; return it in its stored form (lower-case IDNA
    A-labels, without a leading "@" or a trailing dot).

    Args:
        exclude_pk: the ``AgencyDomain`` being edited, not compared with itself.

    Raises: ValidationError for values that are not a domain name, for webmail domains, and for
    what ``addresses.normalise_domain`` and ``refuse_lookalike`` refuse (invisible characters,
    mixed scripts, look-alikes of a listed or webmail domain).
    """
    typed = domain.strip()
    if "://" in typed or "/" in typed:
        raise ValidationError(
            "Type the domain only, e.g. denver911.gov, not a web address or an email address."
        )
    domain = addresses.normalise_domain(typed.lstrip("@"))
    not_a_domain = ValidationError(f"{domain!r} is not a domain name such as denver911.gov.")
    if "." not in domain or "@" in domain or domain.startswith("["):
        raise not_a_domain
    try:
        DomainNameValidator(accept_idna=False)(domain)  # A-labels: letters, digits, hyphens
    except ValidationError as error:
        raise not_a_domain from error
    if is_webmail(domain):
        raise ValidationError(
            f"{domain} is a webmail domain: anyone can have an address there, so it cannot "
            "prove employment at a call center."
        )
    refuse_lookalike(domain, exclude_pk=exclude_pk)
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

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save with the domain in its normal form (also when created without ``clean``, e.g. by
        ``eligibility.review_approve``), so that lookups compare like with like.

        Raises: ValidationError when the domain holds invisible characters or mixes scripts.
        """
        self.domain = addresses.normalise_domain(self.domain.lstrip("@"))
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Store the domain in its normal form; refuse webmail, look-alikes and non-domains."""
        if self.domain.strip():  # an empty one is the required field's error alone
            self.domain = validate_agency_domain(self.domain, exclude_pk=self.pk)
