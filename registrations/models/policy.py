"""Pages whose text staff edit in the admin."""

from django.db import models
from simple_history.models import HistoricalRecords


class PolicyPage(models.Model):
    """A page whose text staff edit in the admin: the course terms and the privacy notice."""

    class Slug(models.TextChoices):
        TERMS = "terms", "Course terms"
        PRIVACY = "privacy", "Privacy notice"

    slug = models.CharField(max_length=20, choices=Slug.choices, unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Plain text; blank lines separate paragraphs.")
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title
