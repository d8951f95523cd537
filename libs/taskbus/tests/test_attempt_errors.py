"""How the worker runtime reads an error that ended a handler (pure functions, no server)."""

from collections.abc import Callable

import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import BadRequestError, NoStreamResponseError, ServiceUnavailableError
from taskbus.errors import Fail, Retry
from taskbus.worker.attempt import classify
from taskbus.worker.claim import ClaimLost


def raised(raise_it: Callable[[], object]) -> BaseException:
    """The exception ``raise_it`` raises, chained the way a real ``raise`` chains it."""
    try:
        raise_it()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def wrapped(outer: Exception, inner: BaseException) -> Callable[[], object]:
    def raise_it() -> object:
        raise outer from inner

    return raise_it


def raised_while_handling(outer: Exception, inner: BaseException) -> Callable[[], object]:
    def raise_it() -> object:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - implicit chaining is what this case is about

    return raise_it


def raised_while_handling_hidden(outer: Exception, inner: BaseException) -> Callable[[], object]:
    def raise_it() -> object:
        try:
            raise inner
        except BaseException:
            raise outer from None

    return raise_it


@pytest.mark.parametrize(
    ("exc", "expired", "kind"),
    [
        pytest.param(TimeoutError(), True, "timeout", id="deadline"),
        pytest.param(TimeoutError(), False, "nats_unavailable", id="timeout-not-the-deadline"),
        pytest.param(NatsTimeoutError(), False, "nats_unavailable", id="nats-timeout"),
        pytest.param(NatsTimeoutError(), True, "timeout", id="nats-timeout-past-the-deadline"),
        pytest.param(NoRespondersError(), False, "nats_unavailable", id="no-responders"),
        pytest.param(ServiceUnavailableError(), False, "nats_unavailable", id="503"),
        pytest.param(NoStreamResponseError(), False, "nats_unavailable", id="no-stream-response"),
        pytest.param(BadRequestError(code=400), False, "error", id="400"),
        pytest.param(Fail("bad input"), False, "fail", id="fail"),
        pytest.param(Fail("bad input"), True, "fail", id="fail-past-the-deadline"),
        pytest.param(Retry("later"), False, "retry", id="retry"),
        pytest.param(ValueError("bug"), False, "error", id="error"),
        pytest.param(ValueError("bug"), True, "timeout", id="error-past-the-deadline"),
        pytest.param(ClaimLost(9), False, "claim_lost", id="claim-lost"),
        pytest.param(ClaimLost(9), True, "claim_lost", id="claim-lost-past-the-deadline"),
    ],
)
def test_an_error_is_classified_by_its_type_and_the_deadline(
    exc: BaseException, expired: bool, kind: str
) -> None:
    assert classify(exc, deadline_expired=expired) == kind


@pytest.mark.parametrize(
    ("raise_it", "kind"),
    [
        pytest.param(
            wrapped(RuntimeError("store down"), NatsTimeoutError()),
            "nats_unavailable",
            id="raised-from",
        ),
        pytest.param(
            raised_while_handling(ValueError("cleanup"), ServiceUnavailableError()),
            "nats_unavailable",
            id="raised-while-handling",
        ),
        pytest.param(
            raised_while_handling_hidden(ValueError("bad row"), NatsTimeoutError()),
            "error",
            id="raised-from-none",
        ),
        pytest.param(
            wrapped(Retry("store down"), NatsTimeoutError()),
            "retry",
            id="retry-from-a-nats-error",
        ),
        pytest.param(
            wrapped(Fail("refused"), NoRespondersError()), "fail", id="fail-from-a-nats-error"
        ),
    ],
)
def test_a_wrapped_error_is_classified_by_its_chain(
    raise_it: Callable[[], object], kind: str
) -> None:
    assert classify(raised(raise_it), deadline_expired=False) == kind


def test_an_error_two_links_down_the_chain_counts() -> None:
    def raise_it() -> object:
        try:
            raise NoStreamResponseError
        except NoStreamResponseError as exc:
            try:
                raise KeyError("mid") from exc
            except KeyError:
                raise RuntimeError("outer")  # noqa: B904

    assert classify(raised(raise_it), deadline_expired=False) == "nats_unavailable"


def test_a_group_is_unavailable_only_when_every_error_in_it_is() -> None:
    all_nats = ExceptionGroup("tasks", [NatsTimeoutError(), NoRespondersError()])
    mixed = ExceptionGroup("tasks", [NatsTimeoutError(), ValueError("bug")])
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [ServiceUnavailableError()])])

    assert classify(all_nats, deadline_expired=False) == "nats_unavailable"
    assert classify(mixed, deadline_expired=False) == "error"
    assert classify(nested, deadline_expired=False) == "nats_unavailable"


def test_a_cyclic_chain_ends() -> None:
    first, second = ValueError("a"), KeyError("b")
    first.__context__, second.__context__ = second, first

    assert classify(first, deadline_expired=False) == "error"


def test_a_lost_claim_wrapped_in_the_handler_s_own_error_is_still_lost() -> None:
    exc = raised(wrapped(Fail("could not mail"), ClaimLost(9)))

    assert classify(exc, deadline_expired=False) == "claim_lost"
