"""Every domain error finds its problem document by the nearest class in its MRO, with a
default: a class the table never heard of is a 500 document, not a ``StopIteration``."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from app.problems import EXCEPTION_HANDLERS, MEDIA_TYPE
from jobs.errors import AgentFailed, Fenced, JobsError, NotOwner, TooManyStreams


class NotOwnerEither(NotOwner):
    """A subclass added after the table was written."""


class BrandNew(JobsError):
    """A domain error no table lists."""


def raising(exc: Exception) -> TestClient:
    async def endpoint(request: Request) -> Response:
        raise exc

    app = Starlette(routes=[Route("/", endpoint)], exception_handlers=EXCEPTION_HANDLERS)
    return TestClient(app, raise_server_exceptions=False)


def test_a_new_subclass_answers_as_its_parent() -> None:
    response = raising(NotOwnerEither("j1")).get("/")
    assert response.status_code == 403
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.json()["code"] == "NOT_OWNER"


def test_the_most_specific_mapping_wins() -> None:
    response = raising(TooManyStreams(5, retry_after_s=7)).get("/")
    assert (response.status_code, response.json()["code"]) == (429, "TOO_MANY_STREAMS")
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize("exc", [Fenced(), AgentFailed("boom: secret detail"), BrandNew()])
def test_an_unmapped_domain_error_is_a_plain_500_document(
    exc: JobsError, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.problems"):
        response = raising(exc).get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["code"] == "INTERNAL_ERROR"
    assert "secret detail" not in response.text
    assert type(exc).__name__ in caplog.text
