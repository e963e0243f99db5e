"""Why a request gets no cards, in the service's own terms (no HTTP in here).

The engine and the views raise these; `cds.web.errors` is the one place that turns each into an
HTTP status and an OperationOutcome. The message is what the caller is told.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

MAX_LISTED_PROBLEMS = 3


class RequestNotAnswered(Exception):
    """A request the service answers with an explanation instead of cards."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownService(RequestNotAnswered):
    """The request names a CDS service this service does not offer."""


class InvalidRequest(RequestNotAnswered):
    """The request is not one the service can read: a malformed envelope, context or feedback."""


class TooManyDraftOrders(RequestNotAnswered):
    """More draft orders than one call may carry: refused before any work is done on them."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} draft orders")
        self.limit = limit


class DataUnavailable(RequestNotAnswered):
    """Blinatumomab orders to check, but none of the data any check needs could be had."""


class NotYours(RequestNotAnswered):
    """Feedback on a card that was issued to another caller (issuer or tenant)."""


class TemporarilyUnavailable(RequestNotAnswered):
    """A store the call depends on (feedback, replay cache) is down; the caller may retry."""


class StoreUnavailable(Exception):
    """The database behind the feedback store or the replay cache failed (the driver's error is
    the cause). The stores raise it so that no view needs to know which database library they
    use; each view says what it could not do (a 503, `TemporarilyUnavailable`)."""


def validation_message(error: ValidationError, prefix: str = "") -> str:
    """The first few problems of a pydantic error as `where: what`, for a person to read.

    `prefix` places the locations inside the request, e.g. "context." for the hook context."""
    problems = [problem_text(item, prefix) for item in error.errors()[:MAX_LISTED_PROBLEMS]]
    more = error.error_count() - MAX_LISTED_PROBLEMS
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def problem_text(item: ErrorDetails, prefix: str = "", whole: str = "body") -> str:
    """One problem of a pydantic error as `where: what` (`whole` when it is about the whole
    input); the data-quality cards word an unusable FHIR resource with it too."""
    where = ".".join(str(part) for part in item.get("loc", ()))
    return f"{prefix + where if where else prefix.rstrip('.') or whole}: {item['msg']}"
