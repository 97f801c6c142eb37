"""Pages anyone can open: asking for a fresh manage link, the course terms and privacy notice."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from courses.models import Course
from registrations import intake
from registrations.forms import LinkRequestForm
from registrations.models import PolicyPage
from registrations.payments import policy as refund_policy

from .ratelimits import over_limit, too_many_requests


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
            (course, refund_policy.policy_text(refund_policy.policy_for(course)))
            for course in Course.objects.order_by("title")
        ]
    return render(
        request, "registrations/policy.html", {"page": page, "refund_rules": refund_rules}
    )
