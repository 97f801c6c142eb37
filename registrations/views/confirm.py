"""Pages behind the signed links in emails: GET shows a button, POST acts.

``signed_link`` reads every link; an expired or tampered one gets the page that offers a new one.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from registrations import eligibility, intake, links
from registrations.enums import RegistrationState as S
from registrations.forms import LinkRequestForm
from registrations.models import Registration

LinkView = Callable[[HttpRequest, Registration], HttpResponse]


def _link_error(request: HttpRequest, error: links.LinkError) -> HttpResponse:
    return render(
        request,
        "registrations/link_error.html",
        {"error": error, "form": LinkRequestForm()},
        status=410 if error.expired else 400,
    )


def signed_link(purpose: str) -> Callable[[LinkView], Callable[..., HttpResponse]]:
    """View decorator: read the ``token`` URL argument as a signed link for ``purpose`` and call
    the view with the registration it names; an expired or tampered link gets the page that
    offers a new one (``links.read_link``)."""

    def decorator(view: LinkView) -> Callable[..., HttpResponse]:
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
