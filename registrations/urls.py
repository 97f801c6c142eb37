"""The registrations app's URLs.

Each page behind an emailed link has two URLs: one with the link's token (opened once, from the
email: it grants this browser's session and redirects) and one with the registration's id, which
opens only with that grant (``views.confirm.signed_link``). A token always contains ``:``, so an
id never matches a token route; the id routes come first all the same.
"""

from django.urls import path

from .views import (
    certificates,
    class_cancellation,
    confirm,
    manage,
    public,
    register,
    substitution,
    webhooks,
)

app_name = "registrations"

urlpatterns = [
    path("courses/<slug:slug>/classes/<int:pk>/register/", register.register, name="register"),
    path("registered/", register.registered, name="registered"),
    # Token-less pages (session grant).
    path("r/confirm/<int:pk>/", confirm.confirm_work_email, name="confirm-work-email-page"),
    path("r/supervisor/<int:pk>/", confirm.supervisor_confirm, name="supervisor-confirm-page"),
    path("r/email/<int:pk>/", confirm.confirm_new_email, name="confirm-new-email-page"),
    path("r/manage/<int:pk>/", manage.manage, name="manage-page"),
    path("r/manage/<int:pk>/payment/", manage.payment_status, name="payment-page"),
    path("r/manage/<int:pk>/leave-waitlist/", manage.leave_waitlist, name="leave-waitlist-page"),
    path("r/manage/<int:pk>/calendar.ics", manage.attendee_calendar, name="manage-calendar"),
    path(
        "r/manage/<int:pk>/certificate.pdf",
        certificates.attendee_certificate,
        name="manage-certificate",
    ),
    path("r/substitute/<int:pk>/", substitution.substitute, name="substitute-page"),
    path(
        "r/class-cancelled/<int:pk>/move/",
        class_cancellation.move,
        name="class-cancelled-move-page",
    ),
    path(
        "r/class-cancelled/<int:pk>/refund/",
        class_cancellation.refund,
        name="class-cancelled-refund-page",
    ),
    # The links in emails (token in the path).
    path("r/confirm/<str:token>/", confirm.confirm_work_email, name="confirm-work-email"),
    path("r/supervisor/<str:token>/", confirm.supervisor_confirm, name="supervisor-confirm"),
    path("r/email/<str:token>/", confirm.confirm_new_email, name="confirm-new-email"),
    path("r/manage/<str:token>/", manage.manage, name="manage"),
    path("r/manage/<str:token>/payment/", manage.payment_status, name="payment-status"),
    path("r/manage/<str:token>/leave-waitlist/", manage.leave_waitlist, name="leave-waitlist"),
    path("r/substitute/<str:token>/", substitution.substitute, name="substitute"),
    path(
        "r/class-cancelled/<str:token>/move/", class_cancellation.move, name="class-cancelled-move"
    ),
    path(
        "r/class-cancelled/<str:token>/refund/",
        class_cancellation.refund,
        name="class-cancelled-refund",
    ),
    path("payments/stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("r/link/", public.request_link, name="request-link"),
    path("policies/<slug:slug>/", public.policy, name="policy"),
    path("certificates/<str:number>/", certificates.verify, name="certificate"),
]
