"""Each endpoint is declared once (``jobs.client.endpoints``) and is a method of both
clients, with the declaration's signature and docstring."""

from __future__ import annotations

import inspect
from typing import get_origin

import httpx2
import pytest

from jobs.client import JobsClient, ProblemError, SyncJobsClient, endpoints
from jobs.client.endpoints import Call

DECLARED = [
    name
    for name, function in vars(endpoints).items()
    if inspect.isfunction(function)
    and function.__module__ == endpoints.__name__
    and get_origin(inspect.signature(function, eval_str=True).return_annotation) is Call
]


def test_the_endpoints_are_found() -> None:
    assert {"start", "status", "cancel", "list_jobs", "agents"} <= set(DECLARED)


@pytest.mark.parametrize("client", [JobsClient, SyncJobsClient])
@pytest.mark.parametrize("name", DECLARED)
def test_each_endpoint_is_a_method_of_each_client(client: type[object], name: str) -> None:
    method = getattr(client, name)
    declared = getattr(endpoints, name)
    assert method.__doc__ == declared.__doc__
    assert method.__doc__, f"{name} has no docstring"
    parameters = list(inspect.signature(method).parameters)
    assert parameters == ["self", *inspect.signature(declared).parameters]
    assert inspect.iscoroutinefunction(method) is (client is JobsClient)


def test_a_call_raises_the_problem_of_an_error_answer() -> None:
    call = endpoints.status("j")
    body = {"type": "about:blank", "title": "t", "status": 404, "detail": "d", "code": "X"}
    with pytest.raises(ProblemError, match="404 X: d"):
        call.read(httpx2.Response(404, json=body))
