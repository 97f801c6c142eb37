from django.urls import path

from . import views, webhooks

app_name = "registrations"

urlpatterns = [
    path("courses/<slug:slug>/classes/<int:pk>/register/", views.register, name="register"),
    path("registered/", views.registered, name="registered"),
    path("r/confirm/<str:token>/", views.confirm_work_email, name="confirm-work-email"),
    path("r/supervisor/<str:token>/", views.supervisor_confirm, name="supervisor-confirm"),
    path("r/email/<str:token>/", views.confirm_new_email, name="confirm-new-email"),
    path("r/manage/<str:token>/", views.manage, name="manage"),
    path("r/manage/<str:token>/payment/", views.payment_status, name="payment-status"),
    path("r/manage/<str:token>/leave-waitlist/", views.leave_waitlist, name="leave-waitlist"),
    path("payments/stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("r/link/", views.request_link, name="request-link"),
    path("policies/<slug:slug>/", views.policy, name="policy"),
]
