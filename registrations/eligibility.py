"""Eligibility: "currently employed by an emergency call center (911 centre / PSAP)".

The rule (``docs/architecture.md``, "Eligibility"): a confirmed work email on a domain staff
have marked as a known agency domain, or a subdomain of one, makes the registrant eligible at
once. Anything else — an unknown domain, a webmail domain — goes to staff review, where staff
approve (optionally listing the domain) or reject with a reason. A supervisor whose own email is
on a known agency domain may confirm instead of staff. Webmail domains can never be listed. Only
eligible registrants can pay.
"""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import addresses
from .enums import REVIEWABLE_STATES
from .enums import RegistrationState as S
from .messaging import notices
from .models import AgencyDomain, Registration
from .models.agency import email_domain, is_webmail, validate_agency_domain
from .transitions import Actor, IllegalTransition, registration_transition


def known_agency(address: str) -> AgencyDomain | None:
    """The ``AgencyDomain`` that covers ``address`` (its domain or a parent domain), or None.

    Domains compare in their normal form (``addresses.normalise_domain``: IDNA A-labels), so
    ``bücher.example`` and ``xn--bcher-kva.example`` are the same domain; a row listed before
    domains were normalised is found by its Unicode form too. Webmail addresses, and addresses
    whose domain cannot be trusted (``email_domain`` gives ""), are never covered."""
    domain = email_domain(address)
    if not domain or is_webmail(domain):
        return None
    labels = domain.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    shown = [addresses.display_domain(candidate) for candidate in candidates]
    return (
        AgencyDomain.objects.filter(domain__in={*candidates, *shown})
        .order_by("-domain")  # the most specific first
        .first()
    )


def work_email_confirm(registration: Registration) -> Registration:
    """The registrant proved they read their work email: decide what happens next.

    Known agency domain → eligible (and told so). Otherwise → staff review (and told so); when
    the supervisor's email is on a known agency domain, the supervisor is also asked to confirm.
    Idempotent: a second confirmation of an already-decided registration changes nothing.

    Raises: IllegalTransition when the registration is no longer waiting for this (cancelled).
    """
    if registration.state != S.PENDING_EMAIL:
        return registration
    now = timezone.now()
    agency = known_agency(registration.work_email)
    with transaction.atomic():
        if agency is not None:
            result = registration_transition(
                registration_id=registration.pk,
                to_state=S.ELIGIBLE,
                actor=Actor.attendee(),
                reason=f"Work email confirmed on known agency domain {agency.domain} "
                f"({agency.agency_name}).",
                work_email_confirmed_at=now,
            )
            if result.changed:
                notices.send_eligible(result.registration)
            return result.registration
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.PENDING_REVIEW,
            actor=Actor.attendee(),
            reason=f"Work email confirmed; {email_domain(registration.work_email) or 'its domain'} "
            "is not a known agency domain.",
            work_email_confirmed_at=now,
        )
        if result.changed:
            notices.send_under_review(result.registration)
            if known_agency(registration.supervisor_email) is not None:
                notices.send_supervisor_request(result.registration)
        return result.registration


def supervisor_confirm(registration: Registration) -> Registration:
    """The supervisor confirmed employment: eligible, if the case is still open.

    Only a supervisor on a known agency domain was sent a link; this re-checks it, since the
    domain may have been removed since. Returns the registration (unchanged when already decided).
    """
    if registration.state != S.PENDING_REVIEW:
        return registration
    agency = known_agency(registration.supervisor_email)
    if agency is None:
        return registration
    with transaction.atomic():
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.ELIGIBLE,
            actor=Actor.supervisor(),
            reason=f"Confirmed by supervisor {registration.supervisor_name} "
            f"<{registration.supervisor_email}> ({agency.agency_name}).",
            supervisor_confirmed_at=timezone.now(),
        )
        if result.changed:
            notices.send_eligible(result.registration)
    return result.registration


def review_approve(
    registration: Registration,
    *,
    staff_user: User,
    add_domain: bool = False,
    agency_name: str = "",
) -> Registration:
    """Staff approve a registration under review; optionally list its work email's domain.

    Args:
        add_domain: also add the work email's domain, normalised, as a known agency domain
            (skipped, and the reason recorded, for what ``validate_agency_domain`` refuses:
            webmail, look-alikes of a listed domain; a domain already listed is kept).
        agency_name: the agency's name for the new domain (default: the registrant's employer).

    Raises: IllegalTransition when it is not under review.
    """
    with transaction.atomic():
        current = Registration.objects.select_for_update().get(pk=registration.pk)
        if current.state not in REVIEWABLE_STATES:
            # Only a case under review can be approved: before the work email is confirmed,
            # nobody has shown they read that address (and its domain must not be listed).
            raise IllegalTransition(registration.pk, current.state, S.ELIGIBLE)
        listing = ""
        if add_domain:
            domain = registration.work_email.rpartition("@")[2]
            try:
                listed = validate_agency_domain(domain)
            except ValidationError as refusal:
                # Webmail, a look-alike, not a trustworthy domain: approved, but not listed.
                why = refusal.messages[0].split(". ")[0].rstrip(".")
                listing = f"; {domain} not listed ({why})"
            else:
                AgencyDomain.objects.get_or_create(
                    domain=listed,
                    defaults={
                        "agency_name": agency_name or registration.employer_name,
                        "added_by": staff_user,
                    },
                )
                listing = f"; {listed} listed as an agency domain"
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.ELIGIBLE,
            actor=Actor.staff(staff_user),
            reason=f"Approved by staff{listing}.",
        )
        if result.changed:
            notices.send_eligible(result.registration)
    return result.registration


def review_reject(registration: Registration, *, staff_user: User, reason: str) -> Registration:
    """Staff reject a registration under review, with a reason the registrant is sent.

    Raises: ValidationError without a reason; IllegalTransition when it is not under review.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError("Give the registrant a reason.")
    with transaction.atomic():
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.REJECTED,
            actor=Actor.staff(staff_user),
            reason=reason,
        )
        if result.changed:
            notices.send_rejected(result.registration, reason)
    return result.registration
