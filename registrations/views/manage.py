"""The attendee's manage page (reached by the signed manage link, then at its token-less URL
through the session's grant, see ``confirm.signed_link``): state, class times, next
step, payment, waitlist, edits and cancellation. Every change is a POST with a named button, and
each button has its own handler (``BUTTONS``)."""

from collections.abc import Callable
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from courses import catalogue
from courses.calendar import ics_filename, offering_calendar
from courses.calendar_links import session_links
from courses.models import Offering
from courses.templatetags.schedule import deadline_html
from registrations import intake, links
from registrations.certificates.service import downloadable
from registrations.changes import enrolment, transfers
from registrations.enums import CAN_HOLD_STATES, UNPAID_CANCELLABLE_STATES
from registrations.enums import RegistrationState as S
from registrations.forms import DetailsForm, EmailChangeForm
from registrations.models import Registration
from registrations.payments import cancellation, checkout, policy, refund_terms
from registrations.payments.gateway import PaymentProviderError
from registrations.seats import booking, queries
from registrations.transitions import Actor, IllegalTransition

from . import class_cancellation, substitution
from .confirm import signed_link
from .ratelimits import over_limit, too_many_requests

NEXT_STEPS = {
    S.PENDING_EMAIL: "Confirm your work email: open the link we sent to {work_email}. "
    "It is valid for 48 hours.",
    S.PENDING_REVIEW: "Our training staff are checking your employment. You will get an email "
    "as soon as they decide, usually within two working days.",
    S.ELIGIBLE: "You are eligible. Pay the tuition to take your seat; it is confirmed once paid.",
    S.HELD: "A seat is held for you until {hold_ends}. Pay to confirm it.",
    # A waitlist offer is a hold too (``hold_is_offer``).
    "offer": "A seat is offered to you until {hold_ends}. Pay to take it; after that it goes "
    "to the next person on the waitlist.",
    S.WAITLISTED: "You are number {position} on the waitlist. We will email you when a seat is "
    "free.",
    S.PROCESSING: "Your payment is being processed. Your seat is kept meanwhile; we will email "
    "you when it completes.",
    S.EXPIRED: "Your seat was not kept: the hold ended before payment, or the payment did not "
    "go through. You can try again while seats are free.",
    S.CONFIRMED: "Your seat is confirmed. See you in class!",
    S.REFUNDED: "This registration was cancelled and refunded.",
    S.REJECTED: "We could not confirm your eligibility. Questions? Write to the training "
    "administration.",
    S.CANCELLED: "This registration is cancelled.",
}


def _offering(registration: Registration) -> Offering:
    """The registration's class with its sessions prefetched (and seats annotated while public)."""
    return (
        catalogue.public_offerings(registration.offering.course)
        .filter(pk=registration.offering_id)
        .first()
    ) or registration.offering


def ticket_context(registration: Registration, offering: Offering) -> dict:
    """What the ticket (``registrations/_ticket.html``) shows, on "You're confirmed" and on the
    manage page: for a confirmed attendee the meeting link (when staff set one), the web-calendar
    links of each session (with the link when set), the personal .ics download and the refund
    steps for the amount paid; for anyone else only ``confirmed`` (False), so nothing is offered
    as if the seat were theirs."""
    confirmed = registration.state == S.CONFIRMED
    if not confirmed:
        return {"confirmed": False}
    meeting_url = offering.join_url  # only a web link (courses.text.web_link), else ""
    payment = cancellation.paid_payment(registration)
    amount = payment.amount_cents if payment else offering.course.tuition_cents
    return {
        "confirmed": True,
        "meeting_url": meeting_url,
        "meeting_href": meeting_url,
        "calendar_links": session_links(offering, meeting_url=meeting_url),
        "calendar_path": reverse("registrations:manage-calendar", kwargs={"pk": registration.pk}),
        "refund_steps": refund_terms.refund_steps(offering, amount),
    }


def transfer_context(registration: Registration, chosen: str, now: datetime) -> dict:
    """What the "Change to another class" section shows a confirmed attendee: why they cannot
    move (in words), or the classes they may move to with their seats left, the deadline and
    the moves left; ``chosen`` (the ``transfer_to`` query value) selects the class of the
    confirmation step when it is one of them."""
    if registration.state != S.CONFIRMED:
        return {"transfer_shown": False}
    options = transfers.transfer_options(registration, by_staff=False, now=now)
    refusal = ""
    if not options:
        refusal = (
            transfers.registration_refusal(registration, by_staff=False, now=now)
            or "No other class of this course is open with a free seat right now."
        )
    deadline = transfers.transfer_deadline(registration)
    return {
        "transfer_shown": True,
        "transfer_options": options,
        "transfer_refusal": refusal,
        "transfer_deadline": deadline_html(deadline, registration.offering) if deadline else "",
        "transfers_left": transfers.transfers_left(registration),
        "transfer_chosen": next((o for o in options if str(o.offering.pk) == chosen), None),
    }


def _manage_context(registration: Registration, now: datetime, transfer_to: str = "") -> dict:
    offering = _offering(registration)
    step = NEXT_STEPS.get(registration.state, "")
    if registration.state == S.HELD and registration.hold_is_offer:
        step = NEXT_STEPS["offer"]
    hold_ends = deadline_html(registration.hold_expires_at, offering)
    seats_left = queries.seats_free(offering, now)
    return {
        "registration": registration,
        "offering": offering,
        "course": offering.course,
        "next_step": format_html(
            step,
            work_email=registration.work_email,
            hold_ends=hold_ends,
            position=queries.waitlist_position(registration) or "",
        )
        if step
        else "",
        "seats_left": seats_left,
        "can_pay": registration.state in (*CAN_HOLD_STATES, S.HELD)
        and (seats_left > 0 or registration.state == S.HELD),
        "can_join_waitlist": registration.state in CAN_HOLD_STATES and seats_left == 0,
        "is_offer": registration.state == S.HELD and registration.hold_is_offer,
        "can_cancel": registration.state in (*UNPAID_CANCELLABLE_STATES, S.CONFIRMED),
        "refund_preview": cancellation.attendee_refund_preview(registration),
        "refund_policy": policy.policy_text(policy.policy_for(offering.course)),
        "now": now,
        # The certificate of completion, when there is one to download (not revoked).
        "certificate": downloadable(registration),
        **ticket_context(registration, offering),
        **transfer_context(registration, transfer_to, now),
        **substitution.substitution_context(registration),
        **class_cancellation.cancellation_context(registration),
        # A class with a minimum not yet confirmed to run (``changes.enrolment``).
        "run_notice": enrolment.attendee_notice(registration) if registration.is_active else None,
    }


def _back(registration: Registration) -> HttpResponse:
    """After a button: to the token-less manage page (also when the POST came to an old link)."""
    return redirect(links.manage_page_path(registration))


# A button handler answers with a redirect, or with None to show the page again with its form
# (``forms``) holding the errors.
Forms = dict[str, DetailsForm | EmailChangeForm]
Button = Callable[[HttpRequest, Registration, Forms], HttpResponse | None]


def pay(request: HttpRequest, registration: Registration, forms: Forms) -> HttpResponse:
    """ "Pay": to Stripe Checkout, or back with why not."""
    try:
        return redirect(checkout.checkout_start(registration))
    except booking.OfferingFull:
        messages.info(request, "The class just filled up. You can join the waitlist.")
    except checkout.CheckoutUnavailable as exc:
        messages.error(request, exc.message)
    return _back(registration)


def join_waitlist(request: HttpRequest, registration: Registration, forms: Forms) -> HttpResponse:
    """ "Join the waitlist" of a full class."""
    try:
        booking.join_waitlist(registration)
        messages.success(request, "You are on the waitlist.")
    except booking.CannotHold as exc:
        messages.info(request, exc.message)
    return _back(registration)


def leave_waitlist_button(
    request: HttpRequest, registration: Registration, forms: Forms
) -> HttpResponse:
    """ "Leave the waitlist" (or decline an offered seat)."""
    try:
        cancellation.waitlist_leave(registration)
        messages.success(request, "You have left the waitlist.")
    except checkout.CheckoutUnavailable as exc:
        messages.error(request, exc.message)
    return _back(registration)


def save_details(
    request: HttpRequest, registration: Registration, forms: Forms
) -> HttpResponse | None:
    """ "Save": correct name spelling and phone."""
    form = forms["details_form"] = DetailsForm(request.POST)
    if not form.is_valid():
        return None
    intake.details_update(registration, **form.cleaned_data)
    messages.success(request, "Your details are saved.")
    return _back(registration)


def change_email(
    request: HttpRequest, registration: Registration, forms: Forms
) -> HttpResponse | None:
    """ "Change email": a link goes to the new address (a change of case applies at once)."""
    form = forms["email_form"] = EmailChangeForm(request.POST)
    if not form.is_valid():
        return None
    new_email = form.cleaned_data["new_email"]
    try:
        updated = intake.email_change_request(registration, new_email)
    except intake.EmailChangeRefused as exc:
        form.add_error("new_email", exc.message)
        return None
    if updated.pending_email:
        messages.success(
            request,
            f"We sent a confirmation link to {new_email}. Your current email stays in use until "
            "you open it.",
        )
    else:
        messages.success(request, f"Your course email is {updated.email}.")
    return _back(registration)


def cancel(request: HttpRequest, registration: Registration, forms: Forms) -> HttpResponse:
    """ "Cancel my registration": unpaid at no cost, paid under the refund policy."""
    try:
        cancellation.attendee_cancel(registration)
        messages.success(request, "Your registration is cancelled.")
    except IllegalTransition:
        messages.error(
            request,
            "This registration cannot be cancelled here. Please write to the training "
            "administration.",
        )
    except (PaymentProviderError, checkout.CheckoutUnavailable):
        messages.error(
            request,
            "We could not reach our payment provider, so nothing was changed. Please try again "
            "in a few minutes.",
        )
    return _back(registration)


def transfer(request: HttpRequest, registration: Registration, forms: Forms) -> HttpResponse:
    """ "Move to this class" (the confirmation step): the same registration, its payment and
    its seat move to the chosen class, or back with why not."""
    try:
        target = int(request.POST.get("transfer_to", ""))
        moved = transfers.transfer(registration.pk, target, actor=Actor.attendee())
    except (ValueError, Offering.DoesNotExist):
        messages.error(request, "Please choose one of the classes listed.")
    except transfers.TransferRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Your place is now in the class of {moved.offering.date_label}. We sent you an "
            "email with the new calendar invitation.",
        )
    return _back(registration)


def resend(request: HttpRequest, registration: Registration, forms: Forms) -> HttpResponse:
    """ "Send the link again" while the work email is unconfirmed."""
    if intake.resend_work_email_link(registration):
        messages.success(request, f"We sent a new link to {registration.work_email}.")
    return _back(registration)


# The POST field naming the button -> its handler, in the order they are looked for.
BUTTONS: dict[str, Button] = {
    "pay": pay,
    "join_waitlist": join_waitlist,
    "leave_waitlist": leave_waitlist_button,
    "save_details": save_details,
    "change_email": change_email,
    "cancel": cancel,
    "resend": resend,
    "transfer_confirm": transfer,
    "substitute_request": substitution.request_button,
    "substitute_withdraw": substitution.withdraw_button,
}
# Buttons that send an email: limited per registration (``RATELIMIT_LINK_REQUEST``).
MAILING_BUTTONS = ("resend", "change_email", "substitute_request")


@require_http_methods(["GET", "HEAD", "POST"])
@signed_link(links.MANAGE)
def manage(request: HttpRequest, registration: Registration) -> HttpResponse:
    """The attendee's page. GET shows it; POST runs the handler of the button pressed."""
    forms: Forms = {
        "details_form": DetailsForm(
            initial={
                "first_name": registration.first_name,
                "last_name": registration.last_name,
                "phone": registration.phone,
            }
        ),
        "email_form": EmailChangeForm(),
    }
    if request.method == "POST":
        if not registration.is_active:
            messages.error(request, "This registration has ended, so it cannot be changed.")
            return _back(registration)
        pressed = next((name for name in BUTTONS if name in request.POST), None)
        if pressed in MAILING_BUTTONS and over_limit(
            request, "manage-mail", "RATELIMIT_LINK_REQUEST", key=f"registration:{registration.pk}"
        ):
            return too_many_requests(request)
        if pressed is not None:
            response = BUTTONS[pressed](request, registration, forms)
            if response is not None:
                return response
    context = _manage_context(registration, timezone.now(), request.GET.get("transfer_to", ""))
    context.update(forms)
    return render(
        request,
        "registrations/manage.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "HEAD"])
@signed_link(links.MANAGE, "registrations:payment-page")
def payment_status(request: HttpRequest, registration: Registration) -> HttpResponse:
    """Where Stripe sends the attendee back. Shows the state from our database (the redirect
    proves nothing) and refreshes every few seconds until the webhook has confirmed it."""
    waiting = registration.state in (S.HELD, S.PROCESSING)
    offering = _offering(registration)
    return render(
        request,
        "registrations/payment_status.html",
        {
            "registration": registration,
            "offering": offering,
            "course": offering.course,
            "manage_path": links.manage_page_path(registration),
            "waiting": waiting,
            **ticket_context(registration, offering),
        },
    )


@require_http_methods(["GET", "HEAD"])
@signed_link(links.MANAGE, "registrations:manage-calendar")
def attendee_calendar(request: HttpRequest, registration: Registration) -> HttpResponse:
    """A confirmed attendee's own calendar file (Apple Calendar and any .ics reader): the
    sessions with the meeting link when set, under the same UIDs and ``SEQUENCE`` as the emailed
    invitation, so an import and a later invitation update the same entries. 404 for a
    registration that is not confirmed: no calendar is offered before the seat is."""
    if registration.state != S.CONFIRMED:
        raise Http404("Only a confirmed place has a calendar file.")
    offering = _offering(registration)
    response = HttpResponse(
        offering_calendar(offering, meeting_url=offering.join_url),
        content_type="text/calendar; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{ics_filename(offering)}"'
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@signed_link(links.MANAGE, "registrations:leave-waitlist-page")
def leave_waitlist(request: HttpRequest, registration: Registration) -> HttpResponse:
    """The "leave the waitlist" link from emails: GET shows one button, POST leaves."""
    on_list = registration.state == S.WAITLISTED or (
        registration.state == S.HELD and registration.hold_is_offer
    )
    if request.method == "POST" and on_list:
        try:
            registration = cancellation.waitlist_leave(registration)
            messages.success(request, "You have left the waitlist.")
        except checkout.CheckoutUnavailable as exc:
            messages.error(request, exc.message)
        return _back(registration)
    return render(
        request,
        "registrations/confirm_action.html",
        {
            "registration": registration,
            "heading": "Leave the waitlist",
            "text": "Leave the waitlist for this class? Any seat offered to you goes to the next "
            "person.",
            "button": "Leave the waitlist",
            "done": not on_list,
        },
    )
