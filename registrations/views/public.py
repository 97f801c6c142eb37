"""Pages anyone can open: asking for a fresh manage link, the course terms and privacy notice."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from citreg.middleware import public_page
from courses.models import Course
from registrations import intake
from registrations.forms import LinkRequestForm
from registrations.models import PolicyPage
from registrations.payments import policy as refund_policy
from registrations.privacy import retention

from .ratelimits import over_limit, too_many_requests


@require_http_methods(["GET", "HEAD", "POST"])
def request_link(request: HttpRequest) -> HttpResponse:
    """Ask for a fresh manage link by email. Known and unknown addresses take the same path (the
    rate limits, then a task handed to the worker, which looks the address up: no query here
    depends on it) and get the same page."""
    form = LinkRequestForm(request.POST or None)
    if request.method == "POST":
        if over_limit(request, "link", "RATELIMIT_LINK_REQUEST"):
            return too_many_requests(request)
        if form.is_valid():
            intake.request_links_later(form.cleaned_data["email"])
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


@public_page
def policy(request: HttpRequest, slug: str) -> HttpResponse:
    """The course terms or the privacy notice, as staff wrote them in the admin; the refund rules
    and the retention periods are generated from their settings, so the page cannot disagree
    with what the code does."""
    page = get_object_or_404(PolicyPage, slug=slug)
    refund_rules = []
    if slug == PolicyPage.Slug.TERMS:
        refund_rules = [
            (course, refund_policy.policy_text(refund_policy.policy_for(course)))
            for course in Course.objects.order_by("title")
        ]
    retention_lines = retention.notice_lines() if slug == PolicyPage.Slug.PRIVACY else []
    return render(
        request,
        "registrations/policy.html",
        {"page": page, "refund_rules": refund_rules, "retention_lines": retention_lines},
    )
