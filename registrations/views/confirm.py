"""Pages behind the signed links in emails: GET shows a button, POST acts.

``signed_link`` reads every link. Opening one exchanges its token for a grant in the browser's
session and redirects to the same page without the token (``links`` explains grants), where the
page is shown and its buttons act; an expired or tampered link, or a token-less page opened
without a grant, gets the page that offers a new link.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from registrations import eligibility, intake, links
from registrations.enums import RegistrationState as S
from registrations.forms import LinkRequestForm
from registrations.models import Registration

LinkView = Callable[[HttpRequest, Registration], HttpResponse]


def _link_error(request: HttpRequest, error: links.LinkError) -> HttpResponse:
    if isinstance(error, links.NoGrant):
        heading, status = "Open the link from your email", 403
    elif error.expired:
        heading, status = "This link has expired", 410
    else:
        heading, status = "This link does not work", 400
    return render(
        request,
        "registrations/link_error.html",
        {"error": error, "heading": heading, "form": LinkRequestForm()},
        status=status,
    )


def _from_token(request: HttpRequest, purpose: str, page: str, token: str) -> HttpResponse:
    """A request to a URL with a token: check it, grant the session (``links.grant``) and
    redirect to ``page``, the same page without the token, keeping the query string. No page is
    shown at a token URL, so the token is in this one request only (the access log of this
    request is the one place it remains).

    GET and HEAD go there with 303 and ``Referrer-Policy: no-referrer``. A POST (a page opened
    before grants existed, or from an old link) is resubmitted there with 307, which keeps the
    method and the form; its policy is ``same-origin``, because browsers send ``Origin: null``
    on a POST under ``no-referrer`` and the CSRF check would refuse it. A link that does not
    work gets the page offering a new one (``same-origin`` too: its form posts).
    """
    try:
        target = links.read_link(purpose, token)
    except links.LinkError as error:
        response = _link_error(request, error)
        response.headers["Referrer-Policy"] = "same-origin"
        return response
    links.grant(request.session, purpose, target)
    url = reverse(page, kwargs={"pk": target.registration.pk})
    query = request.META.get("QUERY_STRING", "")
    post = request.method == "POST"
    response = HttpResponseRedirect(f"{url}?{query}" if query else url, status=307 if post else 303)
    response.headers["Referrer-Policy"] = "same-origin" if post else "no-referrer"
    return response


def signed_link(
    purpose: str, page: str | None = None
) -> Callable[[LinkView], Callable[..., HttpResponse]]:
    """View decorator for the two URLs of one page: with a ``token`` (from an email: checked,
    exchanged for a grant and redirected, ``_from_token``) and with the registration's ``pk``
    (the token-less ``page``, default ``links.PAGES[purpose]``), where the view is called with
    the registration if this session holds a valid grant for ``purpose`` (``links.read_grant``)
    and the "open the link from your email" page (403) is shown otherwise."""
    page_name = page or links.PAGES[purpose]

    def decorator(view: LinkView) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(
            request: HttpRequest, token: str | None = None, pk: int | None = None
        ) -> HttpResponse:
            if token is not None:
                return _from_token(request, purpose, page_name, token)
            try:
                target = links.read_grant(request.session, purpose, pk or 0)
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
        links.grant_manage(request.session, registration)
        return redirect(links.manage_page_path(registration))
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
        links.grant_manage(request.session, registration)
        return redirect(links.manage_page_path(registration))
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
