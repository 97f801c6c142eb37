"""Log filters: attendee link tokens never reach a log line.

Attendee links carry a signed token in their path (``/r/manage/<token>/``, ``registrations.links``).
Django logs the path of 4xx and 5xx answers (``django.request``, ``django.security.csrf``) and the
development server logs every request line (``django.server``). ``RedactLinkTokens`` replaces the
token segment with ``[token]`` in the message and its arguments of every record that passes a
handler; the registration-id URLs (``/r/manage/12/``) carry no secret and stay as they are.
"""

import logging
import re

# /r/<purpose>/<segment>/ where the segment is not a plain registration id (a signed token holds
# a ":" separator and base64 characters; ids are digits only).
TOKEN_PATH = re.compile(
    r"(/r/(?:manage|confirm|email|supervisor)/)(?!\d+(?:[/?#\s\"']|$))([^/?#\s\"']+)"
)


def redact(text: str) -> str:
    """``text`` with the token segment of every attendee link path replaced by ``[token]``."""
    return TOKEN_PATH.sub(r"\1[token]", text)


class RedactLinkTokens(logging.Filter):
    """A handler filter that removes attendee link tokens from records (``redact``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record.msg`` and its string arguments in place; never drops a record."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True
