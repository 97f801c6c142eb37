"""Eligibility: "currently employed by an emergency call center (911 centre / PSAP)".

The rule (``docs/architecture.md``, "Eligibility"): a confirmed work email on a domain staff
have marked as a known agency domain, or a subdomain of one, makes the registrant eligible at
once. Anything else — an unknown domain, a webmail domain — goes to staff review, where staff
approve (optionally listing the domain) or reject with a reason. A supervisor whose own email is
on a known agency domain may confirm instead of staff. Webmail domains can never be listed. Only
eligible registrants can pay.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import addresses
from .enums import REVIEWABLE_STATES
from .enums import RegistrationState as S
from .messaging import notices
from .messaging.models import OutboundEmail
from .models import AgencyDomain, Registration, RegistrationEvent
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


# ------------------------------------------------------------------ what a reviewer sees


def waiting_since() -> Coalesce:
    """A query expression for a registration: when it last entered ``pending_review`` (its
    latest event to that state; its creation when it has none). Annotate with it, e.g.
    ``queryset.annotate(waiting_since=waiting_since())``."""
    entered = (
        RegistrationEvent.objects.filter(registration=OuterRef("pk"), to_state=S.PENDING_REVIEW)
        .order_by("-created_at", "-pk")
        .values("created_at")[:1]
    )
    return Coalesce(Subquery(entered), F("created_at"))


def review_queue() -> QuerySet[Registration]:
    """The registrations waiting for a staff decision, oldest first: annotated
    ``waiting_since`` (``waiting_since()``) and ordered by it, then by id."""
    return (
        Registration.objects.filter(state=S.PENDING_REVIEW)
        .annotate(waiting_since=waiting_since())
        .order_by("waiting_since", "pk")
    )


@dataclass(frozen=True)
class QueuePlace:
    """Where a registration stands in ``review_queue``: its 1-based ``position`` of ``total``
    (0 when it is not in the queue), the ids before and after it (None at either end), and
    when it entered review."""

    position: int
    total: int
    previous_id: int | None
    next_id: int | None
    waiting_since: datetime | None


def queue_place(registration: Registration) -> QueuePlace:
    """``registration``'s place in the review queue (one query of the queue's ids)."""
    rows = [(r.pk, getattr(r, "waiting_since", None)) for r in review_queue().only("pk")]
    ids = [pk for pk, _ in rows]
    if registration.pk not in ids:
        return QueuePlace(0, len(ids), None, ids[0] if ids else None, None)
    index = ids.index(registration.pk)
    return QueuePlace(
        position=index + 1,
        total=len(ids),
        previous_id=ids[index - 1] if index > 0 else None,
        next_id=ids[index + 1] if index + 1 < len(ids) else None,
        waiting_since=rows[index][1],
    )


@dataclass(frozen=True)
class DomainStanding:
    """What citreg knows of a work email's domain: its normal form (``domain``, "" when it cannot
    be trusted), the listed ``AgencyDomain`` covering it, whether it is webmail, and whether
    staff could list it (``validate_agency_domain`` accepts it and it is not listed yet)."""

    domain: str
    agency: AgencyDomain | None
    webmail: bool
    listable: bool


def domain_standing(address: str) -> DomainStanding:
    """The ``DomainStanding`` of the domain of ``address``."""
    domain = email_domain(address)
    agency = known_agency(address)
    listable = False
    if domain and agency is None and not is_webmail(domain):
        try:
            validate_agency_domain(domain)
            listable = True
        except ValidationError:
            listable = False
    return DomainStanding(domain, agency, bool(domain) and is_webmail(domain), listable)


@dataclass(frozen=True)
class SupervisorStanding:
    """Whether the supervisor was asked to confirm (``asked_at``: when the request was queued,
    None when never) and whether they answered (``answered_at``: their confirmation)."""

    asked_at: datetime | None
    answered_at: datetime | None

    @property
    def text(self) -> str:
        """In plain English, e.g. "Asked Dec 1; no answer yet"; times are for the caller to
        write, so this names the state only."""
        if self.answered_at is not None:
            return "Confirmed the employment"
        if self.asked_at is not None:
            return "Asked to confirm; no answer yet"
        return "Not asked (their address is not on a known agency domain)"


def supervisor_standing(registration: Registration) -> SupervisorStanding:
    """Whether ``registration``'s supervisor was sent a confirmation request and answered."""
    request = (
        OutboundEmail.objects.filter(
            registration=registration, kind=notices.Kind.SUPERVISOR_CONFIRMATION
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return SupervisorStanding(request, registration.supervisor_confirmed_at)


def similar_decisions(registration: Registration, limit: int = 10) -> list[RegistrationEvent]:
    """Earlier eligibility decisions on registrations whose work email has the same domain
    (approved or rejected by staff, or confirmed by a supervisor), newest first, at most
    ``limit``; each with its registration and staff user loaded. Webmail domains say nothing
    about an employer, so they have none."""
    domain = email_domain(registration.work_email)
    if not domain or is_webmail(domain):
        return []
    shown = addresses.display_domain(domain)
    suffixes = {f"@{domain}", f"@{shown}"}
    events = RegistrationEvent.objects.filter(
        from_state=S.PENDING_REVIEW, to_state__in=[S.ELIGIBLE, S.REJECTED]
    ).exclude(registration=registration)
    matching = RegistrationEvent.objects.none()
    for suffix in suffixes:
        matching = matching | events.filter(registration__work_email__iendswith=suffix)
    return list(
        matching.select_related("registration__offering__course", "staff_user").order_by(
            "-created_at", "-pk"
        )[:limit]
    )
