from django.urls import path

from .views import confirm, manage, public, register, webhooks

app_name = "registrations"

urlpatterns = [
    path("courses/<slug:slug>/classes/<int:pk>/register/", register.register, name="register"),
    path("registered/", register.registered, name="registered"),
    path("r/confirm/<str:token>/", confirm.confirm_work_email, name="confirm-work-email"),
    path("r/supervisor/<str:token>/", confirm.supervisor_confirm, name="supervisor-confirm"),
    path("r/email/<str:token>/", confirm.confirm_new_email, name="confirm-new-email"),
    path("r/manage/<str:token>/", manage.manage, name="manage"),
    path("r/manage/<str:token>/payment/", manage.payment_status, name="payment-status"),
    path("r/manage/<str:token>/leave-waitlist/", manage.leave_waitlist, name="leave-waitlist"),
    path("payments/stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("r/link/", public.request_link, name="request-link"),
    path("policies/<slug:slug>/", public.policy, name="policy"),
]
