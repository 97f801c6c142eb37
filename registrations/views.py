"""Public registration pages: the form, signed-link pages (GET shows, POST acts), the manage page.

Views validate input and call one service function each (``intake``, ``eligibility``); they hold
no rules. Links in emails never change anything on GET, because mail scanners follow links.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from courses import catalogue
from courses.models import Course, Offering

from . import booking, cancellation, checkout, eligibility, intake, links, refunds
from .forms import DetailsForm, EmailChangeForm, LinkRequestForm, RegistrationForm
from .models import PolicyPage, Registration
from .payments import PaymentProviderError
from .ratelimits import over_limit
from .transitions import IllegalTransition

S = Registration.State

NEXT_STEPS = {
    S.PENDING_EMAIL: "Confirm your work email: open the link we sent to {work_email}. "
    "It is valid for 48 hours.",
    S.PENDING_REVIEW: "Our training staff are checking your employment. You will get an email "
    "as soon as they decide, usually within two working days.",
    S.ELIGIBLE: "You are eligible. Pay the tuition to take your seat; it is confirmed once paid.",
    S.HELD: "A seat is held for you until {hold_ends}. Pay to confirm it.",
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


def too_many_requests(request: HttpRequest) -> HttpResponse:
    """The 429 page: what happened and when to try again (``Retry-After``, RFC 6585)."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "3600"
    return response


def _offering(slug: str, pk: int) -> Offering:
    course = get_object_or_404(Course, slug=slug)
    return get_object_or_404(catalogue.public_offerings(course), pk=pk)


@require_http_methods(["GET", "HEAD", "POST"])
def register(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The registration form for one class; refuses closed classes with a clear message."""
    offering = _offering(slug, pk)
    try:
        intake.ensure_open(offering)
    except intake.RegistrationClosed as closed:
        return render(
            request,
            "registrations/closed.html",
            {"offering": offering, "course": offering.course, "message": closed.message},
            status=409 if request.method == "POST" else 200,
        )
    form = RegistrationForm(request.POST or None)
    if request.method == "POST":
        if over_limit(request, "register", "RATELIMIT_REGISTER"):
            return too_many_requests(request)
        if form.is_valid():
            try:
                result = intake.registration_submit(
                    offering=offering, data=form.registration_data()
                )
            except intake.RegistrationClosed as closed:
                form.add_error(None, closed.message)
            else:
                request.session["registered"] = {
                    "created": result.created,
                    "work_email": form.cleaned_data["work_email"],
                    "email": form.cleaned_data["email"],
                    "offering": offering.pk,
                }
                return redirect("registrations:registered")
    return render(
        request,
        "registrations/register.html",
        {"offering": offering, "course": offering.course, "form": form, "now": timezone.now()},
        status=400 if request.method == "POST" else 200,
    )


def registered(request: HttpRequest) -> HttpResponse:
    """After the form: "check your email" (or "you are already registered")."""
    info = request.session.get("registered")
    if not info:
        return redirect("courses:course-list")
    offering = get_object_or_404(Offering.objects.select_related("course"), pk=info["offering"])
    return render(request, "registrations/registered.html", {"info": info, "offering": offering})


def _link_error(request: HttpRequest, error: links.LinkError) -> HttpResponse:
    return render(
        request,
        "registrations/link_error.html",
        {"error": error, "form": LinkRequestForm()},
        status=410 if error.expired else 400,
    )


def signed_link(purpose: str) -> Callable:
    """View decorator: read the ``token`` URL argument as a signed link for ``purpose`` and call
    the view with the registration it names; an expired or tampered link gets the page that
    offers a new one (``links.read_link``)."""

    def decorator(view: Callable[[HttpRequest, Registration], HttpResponse]) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, token: str) -> HttpResponse:
            try:
                target = links.read_link(purpose, token)
            except links.LinkError as error:
                return _link_error(request, error)
            return view(request, target.registration)

        return wrapper

    return decorator


@require_http_methods(["GET", "HEAD", "POST"])
@signed_link(links.WORK_EMAIL)
def confirm_work_email(request: HttpRequest, registration: Registration) -> HttpResponse:
    """GET: a page with a button. POST: confirm the work email and decide eligibility."""
    if request.method == "POST":
        if registration.state == S.PENDING_EMAIL:
            registration = eligibility.work_email_confirm(registration)
            messages.success(request, "Thank you: your work email is confirmed.")
        elif not registration.is_active:
            messages.error(request, "This registration has ended; nothing was changed.")
        return redirect(links.manage_path(registration))
    return render(
        request,
        "registrations/confirm_action.html",
        {
            "registration": registration,
            "heading": "Confirm your work email",
            "text": f"Confirm that {registration.work_email} is your work email at "
            f"{registration.employer_name}.",
            "button": "Confirm my work email",
            "done": registration.state != S.PENDING_EMAIL,
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@signed_link(links.SUPERVISOR)
def supervisor_confirm(request: HttpRequest, registration: Registration) -> HttpResponse:
    """GET: asks the supervisor to confirm; POST: records the confirmation."""
    if request.method == "POST":
        registration = eligibility.supervisor_confirm(registration)
        return render(request, "registrations/supervisor_done.html", {"registration": registration})
    return render(
        request,
        "registrations/confirm_action.html",
        {
            "registration": registration,
            "heading": "Confirm employment",
            "text": f"{registration.full_name} registered for {registration.offering.course.title}"
            f" and named you as their supervisor. Please confirm that {registration.full_name} "
            f"currently works at {registration.employer_name} ({registration.employer_city}, "
            f"{registration.employer_state}).",
            "button": f"Yes, {registration.first_name} works here",
            "done": registration.state != S.PENDING_REVIEW,
            "supervisor": True,
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@signed_link(links.NEW_EMAIL)
def confirm_new_email(request: HttpRequest, registration: Registration) -> HttpResponse:
    """GET: a page with a button. POST: make the new address the course email."""
    if request.method == "POST":
        registration = intake.email_change_confirm(registration)
        messages.success(request, f"Your course email is now {registration.email}.")
        return redirect(links.manage_path(registration))
    return render(
        request,
        "registrations/confirm_action.html",
        {
            "registration": registration,
            "heading": "Confirm your new email",
            "text": f"Use {registration.pending_email} for messages about your registration.",
            "button": "Use this email",
            "done": False,
        },
    )


def _manage_context(registration: Registration, now) -> dict:
    offering = (
        catalogue.public_offerings(registration.offering.course)
        .filter(pk=registration.offering_id)
        .first()
    ) or registration.offering
    hold_ends = ""
    if registration.hold_expires_at:
        from courses.timefmt import clock, day_label

        local = registration.hold_expires_at.astimezone(offering.zone)
        hold_ends = f"{clock(local)} {local.tzname()} on {day_label(local, offering.zone)}"
    seats_left = max(offering.capacity - booking.seats_taken(offering, now), 0)
    return {
        "registration": registration,
        "offering": offering,
        "course": offering.course,
        "next_step": NEXT_STEPS.get(registration.state, "").format(
            work_email=registration.work_email,
            hold_ends=hold_ends,
            position=booking.waitlist_position(registration) or "",
        ),
        "seats_left": seats_left,
        "can_pay": registration.state in (S.ELIGIBLE, S.EXPIRED, S.HELD)
        and (seats_left > 0 or registration.state == S.HELD),
        "can_join_waitlist": registration.state in (S.ELIGIBLE, S.EXPIRED) and seats_left == 0,
        "is_offer": registration.state == S.HELD and registration.hold_is_offer,
        "can_cancel": registration.state in (*cancellation.UNPAID_CANCELLABLE, S.CONFIRMED),
        "refund_preview": cancellation.attendee_refund_preview(registration),
        "refund_policy": refunds.policy_text(refunds.policy_for(offering.course)),
        "now": now,
    }


@require_http_methods(["GET", "HEAD", "POST"])
@signed_link(links.MANAGE)
def manage(request: HttpRequest, registration: Registration) -> HttpResponse:
    """The attendee's page: state, class times, calendar, next step, payment, waitlist, edits
    and cancellation. Every change is a POST with a named button."""
    details_form = DetailsForm(
        initial={
            "first_name": registration.first_name,
            "last_name": registration.last_name,
            "phone": registration.phone,
        }
    )
    email_form = EmailChangeForm()
    if request.method == "POST":
        if not registration.is_active:
            messages.error(request, "This registration has ended, so it cannot be changed.")
            return redirect(request.path)
        if ("resend" in request.POST or "change_email" in request.POST) and over_limit(
            request, "manage-mail", "RATELIMIT_LINK_REQUEST", key=f"registration:{registration.pk}"
        ):
            return too_many_requests(request)
        if "pay" in request.POST:
            try:
                return redirect(checkout.checkout_start(registration))
            except booking.OfferingFull:
                messages.info(request, "The class just filled up. You can join the waitlist.")
            except checkout.CheckoutUnavailable as exc:
                messages.error(request, exc.message)
            return redirect(request.path)
        if "join_waitlist" in request.POST:
            try:
                booking.join_waitlist(registration)
                messages.success(request, "You are on the waitlist.")
            except booking.CannotHold as exc:
                messages.info(request, exc.message)
            return redirect(request.path)
        if "leave_waitlist" in request.POST:
            try:
                cancellation.waitlist_leave(registration)
                messages.success(request, "You have left the waitlist.")
            except checkout.CheckoutUnavailable as exc:
                messages.error(request, exc.message)
            return redirect(request.path)
        if "save_details" in request.POST:
            details_form = DetailsForm(request.POST)
            if details_form.is_valid():
                intake.details_update(registration, **details_form.cleaned_data)
                messages.success(request, "Your details are saved.")
                return redirect(request.path)
        elif "change_email" in request.POST:
            email_form = EmailChangeForm(request.POST)
            if email_form.is_valid():
                new_email = email_form.cleaned_data["new_email"]
                try:
                    updated = intake.email_change_request(registration, new_email)
                except intake.EmailChangeRefused as exc:
                    email_form.add_error("new_email", exc.message)
                else:
                    if updated.pending_email:
                        messages.success(
                            request,
                            f"We sent a confirmation link to {new_email}. Your current email "
                            "stays in use until you open it.",
                        )
                    else:
                        messages.success(request, f"Your course email is {updated.email}.")
                    return redirect(request.path)
        elif "cancel" in request.POST:
            try:
                intake.attendee_cancel(registration)
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
                    "We could not reach our payment provider, so nothing was changed. Please "
                    "try again in a few minutes.",
                )
            return redirect(request.path)
        elif "resend" in request.POST:
            if intake.resend_work_email_link(registration):
                messages.success(request, f"We sent a new link to {registration.work_email}.")
            return redirect(request.path)
    context = _manage_context(registration, timezone.now())
    context.update(details_form=details_form, email_form=email_form)
    return render(
        request,
        "registrations/manage.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


@signed_link(links.MANAGE)
def payment_status(request: HttpRequest, registration: Registration) -> HttpResponse:
    """Where Stripe sends the attendee back. Shows the state from our database (the redirect
    proves nothing) and refreshes every few seconds until the webhook has confirmed it."""
    waiting = registration.state in (S.HELD, S.PROCESSING)
    return render(
        request,
        "registrations/payment_status.html",
        {
            "registration": registration,
            "manage_path": links.manage_path(registration),
            "waiting": waiting,
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@signed_link(links.MANAGE)
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
        return redirect(links.manage_path(registration))
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


@require_http_methods(["GET", "HEAD", "POST"])
def request_link(request: HttpRequest) -> HttpResponse:
    """Ask for a fresh manage link by email; answers the same whether or not the email is known."""
    form = LinkRequestForm(request.POST or None)
    if request.method == "POST":
        if over_limit(request, "link", "RATELIMIT_LINK_REQUEST"):
            return too_many_requests(request)
        if form.is_valid():
            intake.request_links(form.cleaned_data["email"])
            return render(
                request,
                "registrations/link_sent.html",
                {"email": form.cleaned_data["email"]},
            )
    return render(
        request,
        "registrations/request_link.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


def policy(request: HttpRequest, slug: str) -> HttpResponse:
    """The course terms or the privacy notice, as staff wrote them in the admin."""
    page = get_object_or_404(PolicyPage, slug=slug)
    refund_rules = []
    if slug == PolicyPage.Slug.TERMS:
        refund_rules = [
            (course, refunds.policy_text(refunds.policy_for(course)))
            for course in Course.objects.order_by("title")
        ]
    return render(
        request, "registrations/policy.html", {"page": page, "refund_rules": refund_rules}
    )
