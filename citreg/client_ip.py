"""The client's address, as the rate limits and the sign-in lockout see it
(``docs/architecture.md``, "Security and privacy").

django-ratelimit (``RATELIMIT_IP_META_KEY``) and django-axes (``AXES_CLIENT_IP_CALLABLE``) both
call :func:`client_ip`, so one pair of settings decides for both:

- ``CLIENT_IP_HEADER`` unset (the default): ``REMOTE_ADDR``, the peer of the web server.
- ``CLIENT_IP_HEADER`` set (``X-Forwarded-For``, ``X-Real-IP``, …, or its ``request.META`` name,
  ``HTTP_X_FORWARDED_FOR``): the address the proxy reported. The header is a comma-separated
  list to which each proxy appends the address it received the request from, so only the last
  ``TRUSTED_PROXY_COUNT`` entries (default 1) were written by our proxies; the entry
  ``TRUSTED_PROXY_COUNT`` from the right is the client, and anything a client wrote further left
  is ignored. A request without the header (one that did not pass through the proxy) or whose
  entry is not an address falls back to ``REMOTE_ADDR``.

Set the header only when every request reaches citreg through that proxy; otherwise a client
could name any address it likes.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def meta_key(header: str) -> str:
    """``request.META``'s name for an HTTP header: ``X-Forwarded-For`` → ``HTTP_X_FORWARDED_FOR``.

    A name already in that form (``HTTP_…``, any case) is returned upper-cased.
    """
    name = header.strip().upper().replace("-", "_")
    return name if name.startswith("HTTP_") else f"HTTP_{name}"


def _address(entry: str) -> str | None:
    """The IP address in one header entry (``203.0.113.7``, ``203.0.113.7:443``, ``[2001:db8::1]``,
    ``[2001:db8::1]:443``, ``2001:db8::1``), normalised; None when it holds none."""
    entry = entry.strip()
    if entry.startswith("["):
        entry = entry[1:].split("]", 1)[0]
    elif entry.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        entry = entry.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's IP address for ``request`` (see the module docstring for the rule).

    Returns:
        A normalised IP address as text, or ``REMOTE_ADDR`` as given (which may be empty when
        the web server listens on a Unix socket without a proxy header configured).
    """
    remote_addr = request.META.get("REMOTE_ADDR", "")
    header = settings.CLIENT_IP_HEADER
    if not header:
        return remote_addr
    entries = [
        entry for entry in request.META.get(meta_key(header), "").split(",") if entry.strip()
    ]
    if not entries:
        return remote_addr
    # Fewer entries than trusted proxies: the request skipped the outer ones, and the first
    # entry is what the first proxy it met wrote.
    chosen = entries[max(len(entries) - settings.TRUSTED_PROXY_COUNT, 0)]
    return _address(chosen) or remote_addr
