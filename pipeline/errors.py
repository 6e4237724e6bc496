"""Errors a stage can end with. Each class's docstring is its default message."""

from __future__ import annotations


class StageError(Exception):
    """The stage failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class TransientStageError(StageError):
    """A provider or dependency is temporarily unavailable; the stage will be retried."""

    def __init__(self, message: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        # The provider's own word on when to come back (HTTP Retry-After), in seconds.
        self.retry_after = retry_after


class ProviderDeferred(TransientStageError):
    """The provider cannot take the call yet: its circuit breaker is open or its rate
    limit is used up. The request waits in its queue for `retry_after` seconds; this is
    not a failed attempt, so a long outage or a backlog never fails a request for nothing."""


class PermanentStageError(StageError):
    """The stage cannot succeed for this request; retrying will not help."""


class SafetyDeclined(PermanentStageError):
    """The content-safety gate declined the request; `category` is the harm it saw."""

    def __init__(self, message: str | None, category: str) -> None:
        super().__init__(message)
        self.category = category


class Cancelled(PermanentStageError):
    """Cancelled."""


class CancelRequested(Exception):
    """The caller cancelled the request while this delivery worked on it: the work was
    abandoned at a heartbeat, and the request is to end as cancelled."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request {request_id} was cancelled")
        self.request_id = request_id


class InvalidTransition(Exception):
    """A status change that the state machine does not allow."""

    def __init__(self, frm: str, to: str) -> None:
        super().__init__(f"illegal transition {frm} -> {to}")
        self.frm, self.to = frm, to


class StaleClaim(Exception):
    """The row was not in the expected status: another worker moved it first."""

    def __init__(self, request_id: str, expected: str) -> None:
        super().__init__(f"request {request_id} is no longer {expected}")
        self.request_id, self.expected = request_id, expected


class RequestError(Exception):
    """Bad input from an API caller: nothing was written."""


class NotFound(RequestError):
    """No such request."""


class LeaseLost(Exception):
    """This delivery's lease on the request was taken over by another worker (this one
    was presumed dead): its work was cancelled and its result is not recorded."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"lease on request {request_id} was taken over")
        self.request_id = request_id
