"""Starting text for the course terms and privacy notice; staff edit both in the admin."""

from django.db import migrations

TERMS = """These terms apply to registrations for courses run by the training administration.

Eligibility. Courses are open only to people currently employed by an emergency call center (a 911 center or public safety answering point). You confirm this when you register, and we may check it with your agency. We refund the tuition in full if we cannot confirm your eligibility after you pay.

Format. Classes are taught live online. You take part with a working camera and microphone, switched on for the whole of each session, from a quiet place. Certificates of completion are issued to attendees who take part in every session.

Payment. Tuition is due when you are invited to pay, after your eligibility is confirmed. Your seat is held for a short time while you pay; it is confirmed once payment is complete.

Cancellations and refunds. You can cancel an unpaid registration at any time from your registration page, and a paid one under the refund rules below, which are set for each course.

Changes. If we have to move or cancel a class, we tell you by email as soon as we can and offer another date or a full refund."""

PRIVACY = """We collect what we need to run your registration: your name, contact details, role, employer, work email, your supervisor's name and email, your time zone, and anything you tell us about accessibility needs.

We use it to confirm your eligibility, to take payment (card details go directly to our payment processor and never reach us), to send you messages about your class, to record attendance and to issue your certificate.

Accessibility needs are visible only to the staff who arrange accommodations. We email your supervisor only if you named them and we need them to confirm your employment.

We keep registration records for as long as we need them to answer questions about certificates and payments, and then delete them. To see, correct or delete your data, write to the training administration."""


def create_pages(apps, schema_editor):
    PolicyPage = apps.get_model("registrations", "PolicyPage")
    PolicyPage.objects.get_or_create(
        slug="terms", defaults={"title": "Course terms", "body": TERMS}
    )
    PolicyPage.objects.get_or_create(
        slug="privacy", defaults={"title": "Privacy notice", "body": PRIVACY}
    )


class Migration(migrations.Migration):
    dependencies = [("registrations", "0002_registrations_and_eligibility")]

    operations = [migrations.RunPython(create_pages, migrations.RunPython.noop)]
