"""Stripe's error responses.

Stripe answers a refused request with an HTTP status and a body ``{"error": {"type", "code",
"message", "param", "doc_url"}}`` (https://docs.stripe.com/api/errors): 400 for a bad request,
401 for a missing or wrong API key, 402 when a valid request failed, 404 for a missing object
(``resource_missing``), 409 for a conflicting concurrent request. The ``stripe`` library turns
them into exceptions by status and type (``stripe/_api_requestor.py``): 400/404 with type
``idempotency_error`` → ``IdempotencyError``, other 400/404 → ``InvalidRequestError``, 401 →
``AuthenticationError``.
"""

from typing import Any


class StripeError(Exception):
    """A refusal, answered with Stripe's status code and error body.

    Args:
        status: HTTP status code (400, 401, 404, 409, …).
        message: the human-readable ``message``, worded as Stripe words it where known.
        type: Stripe's error ``type`` (``invalid_request_error``, ``idempotency_error``,
            ``api_error``).
        code: Stripe's error ``code`` (``parameter_missing``, ``resource_missing``, …) or None.
        param: the request parameter at fault (``expires_at``, ``line_items[0][quantity]``) or
            None.
        saved: whether the response is kept for a reused ``Idempotency-Key``. Stripe keeps the
            result once an endpoint starts executing, but not when the parameters fail
            validation (https://docs.stripe.com/api/idempotent_requests), so parameter errors
            leave it False.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - Stripe's field name
        code: str | None = None,
        param: str | None = None,
        saved: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.saved = saved

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe sends: ``{"error": {...}}`` without the fields that are unset."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def missing(param: str) -> StripeError:
    """Stripe's refusal of a request without a required parameter."""
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def unknown(param: str) -> StripeError:
    """Stripe's refusal of a parameter it does not know (or the stand-in does not implement)."""
    return StripeError(
        400,
        f"Received unknown parameter: {param}. (The Stripe stand-in implements only part of "
        'Stripe\'s API: README.md, "Payments: Stripe and the local stand-in".)',
        code="parameter_unknown",
        param=param,
    )


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    """Stripe's refusal of a parameter with a value of the wrong type or out of range."""
    return StripeError(400, message, code=code, param=param)


def no_such(kind: str, object_id: str, param: str) -> StripeError:
    """Stripe's 404 for an id that names no object (``resource_missing``)."""
    return StripeError(
        404,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
        saved=True,
    )
