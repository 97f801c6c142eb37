"""Substitutions: the colleague's page behind their emailed link, and the manage page's
"Send a colleague in your place" section (its buttons are handlers of ``manage.BUTTONS``).

The colleague's link (``changes.substitutions.substitution_url``) is exchanged, as every
emailed link is, for a grant in the browser's session and a redirect to the token-less page
(``/r/substitute/<id>/``), which shows the registration form prefilled with what is known. Its
POST confirms the work email and sends the details (``substitutions.substitution_submit``)."""

from crispy_forms.layout import HTML, Submit
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from courses.text import single_line
from registrations import links
from registrations.changes import substitutions
from registrations.changes.models import Substitution
from registrations.forms import AgencyEmailField, RegistrationForm, clean_text
from registrations.models import Registration
from registrations.transitions import Actor


class SubstituteRequestForm(forms.Form):
    """The colleague to send in one's place: names (one line each) and their work email."""

    colleague_first_name = forms.CharField(
        max_length=150, label="Colleague's first name", validators=[single_line]
    )
    colleague_last_name = forms.CharField(
        max_length=150, label="Colleague's last name", validators=[single_line]
    )
    colleague_work_email = AgencyEmailField(
        label="Colleague's work email",
        help_text="On your agency's email domain. We send them a link to confirm their details.",
    )

    def clean(self) -> dict:
        data = super().clean()
        for name in ("colleague_first_name", "colleague_last_name"):
            if name in data:
                data[name] = clean_text(data[name])
                if not data[name]:
                    self.add_error(name, "This field is required.")
        return data


class ColleagueForm(RegistrationForm):
    """The registration form for the colleague: the same fields and checks, the work email
    fixed (the link proved it) and the button saying what it does."""

    def __init__(self, *args: object, work_email: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["work_email"]
        field.disabled = True
        field.initial = work_email
        field.help_text = "The address this link was sent to."
        # The layout ends with the note on tuition and the "Register" button.
        layout = self.helper.layout.fields
        layout[-2] = HTML('<p class="small text-body-secondary">The place is already paid for.</p>')
        layout[-1] = Submit("take_place", "Take the place", css_class="btn-lg")


def substitution_context(
    registration: Registration, form: SubstituteRequestForm | None = None
) -> dict:
    """What the manage page's substitution section shows (``_substitution.html``): the open
    substitution's status with a withdraw button, or the form to name a colleague, or why no
    colleague can be named now. Nothing for a registration that is not confirmed."""
    now = timezone.now()
    if registration.state != Registration.State.CONFIRMED:
        return {"substitution_shown": False}
    current = substitutions.open_substitution(registration, now)
    deadline = substitutions.substitution_deadline(registration, by_staff=False)
    return {
        "substitution_shown": True,
        "substitution": current,
        "substitution_refusal": ""
        if current
        else substitutions.substitution_refusal(registration, by_staff=False, now=now),
        "substitution_deadline": deadline,
        "substitute_form": form or SubstituteRequestForm(),
    }


def _back(registration: Registration) -> HttpResponse:
    return redirect(links.manage_page_path(registration))


def request_button(
    request: HttpRequest, registration: Registration, page_forms: dict
) -> HttpResponse | None:
    """ "Send the link to my colleague" on the manage page."""
    form = SubstituteRequestForm(request.POST)
    page_forms["substitute_form"] = form
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        substitutions.substitution_request(
            registration,
            first_name=data["colleague_first_name"],
            last_name=data["colleague_last_name"],
            work_email=data["colleague_work_email"],
            actor=Actor.attendee(),
        )
    except substitutions.SubstitutionRefused as exc:
        form.add_error(None, exc.message)
        return None
    messages.success(
        request,
        f"We sent {data['colleague_first_name']} a link at {data['colleague_work_email']}. The "
        "place stays yours until they confirm their details and their eligibility.",
    )
    return _back(registration)


def withdraw_button(
    request: HttpRequest, registration: Registration, page_forms: dict
) -> HttpResponse:
    """ "Withdraw" the open substitution on the manage page."""
    current = substitutions.open_substitution(registration)
    if current is not None:
        substitutions.substitution_withdraw(current, actor=Actor.attendee())
        messages.success(request, "The request is withdrawn: the place stays yours.")
    return _back(registration)


# ------------------------------------------------------------------ the colleague's page


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "registrations/substitution_closed.html",
        {"message": message},
        status=status,
    )


def _initial(substitution: Substitution) -> dict:
    registration = substitution.registration
    details = substitution.details or {}
    return {
        "first_name": substitution.first_name,
        "last_name": substitution.last_name,
        "email": "" if substitution.email == substitution.work_email else substitution.email,
        "work_email": substitution.work_email,
        "employer_name": registration.employer_name,
        "employer_city": registration.employer_city,
        "employer_state": registration.employer_state,
        "supervisor_name": registration.supervisor_name,
        "supervisor_email": registration.supervisor_email,
        **{k: v for k, v in details.items() if k in substitutions.DETAIL_FIELDS},
    }


@require_http_methods(["GET", "HEAD", "POST"])
def substitute(
    request: HttpRequest, token: str | None = None, pk: int | None = None
) -> HttpResponse:
    """The colleague's page. With ``token`` (from the email): checked, exchanged for a session
    grant and redirected (303, no referrer) to the token-less page. Without: shown only with a
    grant; GET shows the form prefilled, POST sends it (``substitution_submit``)."""
    salt = substitutions.LINK_SALT
    if token is not None:
        try:
            link = links.read_object_link(salt, token)
            substitution = substitutions.read_substitution_link(link)
        except links.LinkError as exc:
            return _error(request, str(exc), 410)
        except substitutions.SubstitutionRefused as exc:
            return _error(request, exc.message, 410)
        links.grant_object(request.session, salt, link)
        response = HttpResponseRedirect(
            reverse("registrations:substitute-page", kwargs={"pk": substitution.pk}), status=303
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    try:
        substitution = substitutions.read_substitution_link(
            links.read_object_grant(request.session, salt, pk or 0)
        )
    except links.NoGrant as exc:
        return _error(request, str(exc), 403)
    except links.LinkError as exc:
        return _error(request, str(exc), 410)
    except substitutions.SubstitutionRefused as exc:
        return _error(request, exc.message, 410)
    registration = substitution.registration
    waiting = substitution.status == Substitution.Status.PENDING_EMAIL
    form = ColleagueForm(
        request.POST if request.method == "POST" and waiting else None,
        initial=_initial(substitution),
        work_email=substitution.work_email,
    )
    error = ""
    if request.method == "POST" and waiting and form.is_valid():
        try:
            substitution = substitutions.substitution_submit(
                substitution, data=form.registration_data()
            )
        except substitutions.SubstitutionRefused as exc:
            error = exc.message
        else:
            if substitution.status == Substitution.Status.COMPLETED:
                links.grant_manage(request.session, Registration.objects.get(pk=registration.pk))
                messages.success(request, "The place is yours: we emailed your confirmation.")
                return redirect(links.manage_page_path(registration))
            return redirect(reverse("registrations:substitute-page", kwargs={"pk": pk}))
    return render(
        request,
        "registrations/substitute.html",
        {
            "substitution": substitution,
            "registration": registration,
            "offering": registration.offering,
            "course": registration.offering.course,
            "form": form,
            "waiting": waiting,
            "error": error,
        },
        status=400 if request.method == "POST" and waiting else 200,
    )
