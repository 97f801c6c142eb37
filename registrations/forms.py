"""Forms for registering and for the attendee's manage page (django-crispy-forms, Bootstrap 5)."""

import re
from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Fieldset, Layout, Submit
from django import forms
from django.urls import reverse
from django.utils.html import format_html

from courses.text import MultiLineField, one_line, single_line

from . import addresses
from .models import AgencyDomain, Registration
from .models.agency import WEBMAIL_DOMAINS, email_domain, refuse_lookalike

# Geographic zones only ("America/Chicago"), not aliases such as "Factory" or "Etc/GMT+5".
_TIME_ZONES = frozenset(
    zone for zone in available_timezones() if "/" in zone and not zone.startswith("Etc/")
)
PHONE = re.compile(r"^[0-9+().\-\s]{7,25}(\s*(x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)


def clean_text(value: str) -> str:
    """One line of visible text (``courses.text.one_line``): runs of spaces collapse, ends are
    stripped. The single-line fields refuse line breaks, tabs, controls and invisible
    characters first (``courses.text.single_line``, with a message naming the character), so
    for them this only tidies the spaces."""
    return one_line(value)


def validate_phone(value: str) -> None:
    """Digits and the usual separators, optionally an extension ("303-555-0100 x12")."""
    if value and not PHONE.match(value):
        raise forms.ValidationError("Enter a phone number, e.g. 303-555-0100 or +1 303 555 0100.")


class BrowserTimeZoneField(forms.Field):
    """A hidden field the page fills with the browser's IANA zone (``Intl`` API). It never
    fails: a value not in the zone database (tampered, a NUL, an unknown name) is dropped and
    stored blank, since the person could not fix an error on a field they cannot see."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs: object) -> None:
        super().__init__(required=False, **kwargs)

    def clean(self, value: object) -> str:
        """The zone name when it is a known one, else ``""``."""
        text = value.strip() if isinstance(value, str) else ""
        return text if text in _TIME_ZONES else ""


class StrippedEmailField(forms.EmailField):
    """An email field that yields the one stored form of an address
    (``addresses.normalise_email``): pasted whitespace around it stripped, the domain lower-cased
    and in IDNA A-labels, the local part kept as typed (RFC 5321 §2.4). Invisible, control and
    compatibility characters, and domains that mix scripts, are refused with a message saying
    which character is wrong. At most 254 characters, the stored field's length."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_python(self, value: str | None) -> str:
        return addresses.normalise_email(super().to_python(value))

    def validate(self, value: str) -> None:
        super().validate(value)
        domain = value.rpartition("@")[2]
        if value and ("." not in domain or domain.startswith("[")):
            raise forms.ValidationError("Enter an email address with a full domain name.")


class AgencyEmailField(StrippedEmailField):
    """An address whose domain may prove employment (work email, supervisor's email): also
    refused when its domain looks like a listed agency domain, or a webmail domain, without
    being it (``models.agency.refuse_lookalike``)."""

    def validate(self, value: str) -> None:
        super().validate(value)
        if value:
            refuse_lookalike(email_domain(value))


class RegistrationForm(forms.ModelForm):
    """Everything needed to register and prove eligibility.

    All text fields strip surrounding whitespace (Django's default); the one-line ones
    (``SINGLE_LINE_FIELDS``) refuse line breaks, tabs, controls and invisible characters with a
    message naming the character (``courses.text.single_line``); emails keep plus signs and
    subdomains. ``time_zone`` is a hidden field filled from the browser's ``Intl`` API; a value not
    in the zone database is dropped (stored blank) rather than shown as an error the user
    cannot fix.
    """

    email = StrippedEmailField(
        label="Another email for course messages (optional)",
        required=False,
        help_text="Leave blank to get your confirmation, reminders and the class link at your "
        "work email.",
    )
    work_email = AgencyEmailField(
        label="Work email at your agency",
        help_text="We send a link to this address: opening it shows that you work there.",
    )
    # Why it is asked is said once above both supervisor fields (``supervisor-why``).
    supervisor_email = AgencyEmailField(label="Supervisor's work email")
    attest_employment = forms.BooleanField(
        label="I am currently employed by an emergency call center (911 center / PSAP).",
        error_messages={"required": "This course is open only to current call center staff."},
    )
    acknowledge_participation = forms.BooleanField(
        label="I understand the class is live online and I will take part with my camera and "
        "microphone on.",
        error_messages={"required": "Please confirm you can join with camera and microphone."},
    )
    accept_terms = forms.BooleanField(
        error_messages={"required": "Please accept the course terms and the privacy notice."},
    )
    time_zone = BrowserTimeZoneField()

    class Meta:
        model = Registration
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "role",
            "employer_name",
            "employer_city",
            "employer_state",
            "work_email",
            "supervisor_name",
            "supervisor_email",
            "accessibility_needs",
            "time_zone",
        ]
        labels = {
            "employer_name": "Emergency communications center (PSAP) name",
            "employer_city": "City",
            "employer_state": "State",
            "phone": "Phone (optional)",
            "role": "Your role",
            "supervisor_name": "Supervisor's name",
            "accessibility_needs": "Accessibility needs (optional)",
        }
        help_texts = {
            "accessibility_needs": "Anything that would help you take part. Only training staff "
            "who arrange accommodations can see this.",
        }
        # Line breaks counted as the browser counts them against maxlength; no controls.
        field_classes = {"accessibility_needs": MultiLineField}
        widgets = {
            "accessibility_needs": forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["accept_terms"].label = format_html(
            'I accept the <a href="{}" target="_blank" rel="noopener">course terms</a> and the '
            '<a href="{}" target="_blank" rel="noopener">privacy notice</a>.',
            reverse("registrations:policy", kwargs={"slug": "terms"}),
            reverse("registrations:policy", kwargs={"slug": "privacy"}),
        )
        self.fields["role"].choices = [("", "Choose…"), *Registration.Role.choices]
        autocomplete = {
            "first_name": "given-name",
            "last_name": "family-name",
            "email": "email",
            "work_email": "work email",
            "employer_name": "organization",
            "employer_city": "address-level2",
            "employer_state": "address-level1",
        }
        for name, value in autocomplete.items():
            self.fields[name].widget.attrs["autocomplete"] = value
        # The work email's instant check (static/js/register-form.js) reads the server's lists:
        # the webmail domains (models.agency.WEBMAIL_DOMAINS) and the listed agency domains.
        self.fields["work_email"].widget.attrs.update(
            {
                "data-webmail-domains": " ".join(sorted(WEBMAIL_DOMAINS)),
                "data-agency-domains": " ".join(
                    AgencyDomain.objects.order_by("domain").values_list("domain", flat=True)
                ),
                "data-check": "work-email-check",
            }
        )
        for name in ("supervisor_name", "supervisor_email"):
            self.fields[name].widget.attrs["aria-describedby"] = "supervisor-why"
        for name in self.SINGLE_LINE_FIELDS:
            self.fields[name].validators.append(single_line)
        self.helper = FormHelper()
        self.helper.form_id = "registration-form"
        self.helper.attrs = {"novalidate": ""}  # Server-side messages, the same for everyone.
        self.helper.layout = Layout(
            Fieldset(
                "About you",
                Div(Div("first_name", css_class="col-md-6"), Div("last_name", css_class="col-md-6"),
                    css_class="row"),
                Div(Div("role", css_class="col-md-6"), Div("phone", css_class="col-md-6"),
                    css_class="row"),
            ),
            Fieldset(
                "Your agency",
                "employer_name",
                Div(Div("employer_city", css_class="col-md-8"),
                    Div("employer_state", css_class="col-md-4"), css_class="row"),
                "work_email",
                HTML('<p class="form-text email-check" id="work-email-check" aria-live="polite">'
                     "</p>"),
                "email",
            ),
            Fieldset(
                "Your supervisor",
                HTML('<p class="small field-why" id="supervisor-why">Why we ask: when your work '
                     "email is not on an agency domain we know, we email your supervisor one "
                     "question, whether you work there, which is often quicker than our staff's "
                     "check. We contact them for nothing else.</p>"),
                Div(Div("supervisor_name", css_class="col-md-6"),
                    Div("supervisor_email", css_class="col-md-6"), css_class="row"),
            ),
            Fieldset(
                "Taking part",
                "attest_employment",
                "acknowledge_participation",
                "accept_terms",
                "accessibility_needs",
            ),
            "time_zone",
            HTML('<p class="small text-body-secondary">Tuition is due only after your '
                 "eligibility is confirmed.</p>"),
            Submit("register", "Register", css_class="btn-lg"),
        )  # fmt: skip

    TEXT_FIELDS = (
        "first_name", "last_name", "employer_name", "employer_city", "supervisor_name",
    )  # fmt: skip
    # One line each: line breaks, tabs, controls and invisible characters are refused.
    SINGLE_LINE_FIELDS = (*TEXT_FIELDS, "phone")

    # Short names for the error summary, where a label is too long or holds links.
    SUMMARY_LABELS = {
        "attest_employment": "Employment at a call center",
        "acknowledge_participation": "Camera and microphone",
        "accept_terms": "Course terms and privacy notice",
    }

    def clean(self) -> dict:
        data = super().clean()
        for name in self.TEXT_FIELDS:
            if name in data:
                data[name] = clean_text(data[name])
                if not data[name]:
                    self.add_error(name, "This field is required.")
        # No second address typed: course messages go to the work email.
        if not data.get("email") and "email" not in self.errors and data.get("work_email"):
            data["email"] = data["work_email"]
        return data

    def error_summary(self) -> list[tuple[str, str, str]]:
        """Every error, in the order of the fields on the page, as ``(field id, short label,
        message)``; errors not tied to a field have an empty id. For the summary that the page
        shows (and focuses) after a failed submit, each entry linking to its field."""
        entries = [("", "", str(error)) for error in self.non_field_errors()]
        layout_order = [name for name in self._layout_names() if name in self.errors]
        for name in layout_order + [n for n in self.errors if n not in layout_order]:
            if name == "__all__" or name not in self.fields:
                continue
            bound = self[name]
            label = self.SUMMARY_LABELS.get(name) or str(bound.label)
            for error in self.errors[name]:
                entries.append((bound.id_for_label, label, str(error)))
        return entries

    def _layout_names(self) -> list[str]:
        """Field names in the order the layout shows them."""
        return [pointer.name for pointer in self.helper.layout.get_field_names()]

    def clean_phone(self) -> str:
        value = clean_text(self.cleaned_data.get("phone", ""))
        validate_phone(value)
        return value

    def clean_accessibility_needs(self) -> str:
        value = self.cleaned_data.get("accessibility_needs", "").strip()
        if len(value) > 2000:
            raise forms.ValidationError(
                f"Please keep this under 2,000 characters (it has {len(value):,})."
            )
        return value

    def registration_data(self) -> dict:
        """The cleaned values the service stores (without the checkbox confirmations)."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class DetailsForm(forms.Form):
    """Correct name spelling and phone on the manage page (one line each: line breaks, tabs,
    controls and invisible characters are refused, ``courses.text.single_line``)."""

    first_name = forms.CharField(max_length=150, validators=[single_line])
    last_name = forms.CharField(max_length=150, validators=[single_line])
    phone = forms.CharField(
        max_length=40,
        required=False,
        label="Phone (optional)",
        validators=[single_line, validate_phone],
    )

    def clean(self) -> dict:
        data = super().clean()
        for name in ("first_name", "last_name", "phone"):
            if name in data:
                data[name] = clean_text(data[name])
        for name in ("first_name", "last_name"):
            if name in data and not data[name]:
                self.add_error(name, "This field is required.")
        return data

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_id = "details-form"
        self.helper.layout = Layout(
            "first_name", "last_name", "phone", Submit("save_details", "Save changes")
        )


class EmailChangeForm(forms.Form):
    """Change the course email; the new address must be confirmed through a link."""

    new_email = StrippedEmailField(label="New email for course communications")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_id = "email-change-form"
        self.helper.layout = Layout("new_email", Submit("change_email", "Send confirmation link"))


class LinkRequestForm(forms.Form):
    """Ask for a fresh manage link by email."""

    email = StrippedEmailField(label="Email you registered with")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_id = "link-request-form"
        self.helper.layout = Layout("email", Submit("request", "Email me my link"))


class RejectForm(forms.Form):
    """The reason staff give when rejecting (admin action)."""

    reason = MultiLineField(widget=forms.Textarea(attrs={"rows": 4}), label="Reason")


class RefundForm(forms.Form):
    """Staff refund (admin action): an amount in dollars (blank = everything left) and a reason."""

    amount = forms.DecimalField(
        required=False, min_value=Decimal("0.01"), decimal_places=2, max_digits=9,
        label="Amount (USD)", help_text="Blank: everything that is left to refund.",
    )  # fmt: skip
    reason = MultiLineField(widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self) -> dict:
        data = super().clean()
        amount = data.get("amount")
        data["amount_cents"] = int(amount * 100) if amount is not None else None
        return data
