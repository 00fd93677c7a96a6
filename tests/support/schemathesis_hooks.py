"""Schemathesis hooks for ``tests/app/test_openapi.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

JSON Schema counts ``191.0`` as an integer; the service is stricter and takes only integers
written as integers (``maxTokens: 1.0`` is a 422, as the README says). Generated requests
therefore write integral numbers as integers, so that a "schema-valid request rejected" report
means a real disagreement between the document and the service.

A generator also reuses one ``Idempotency-Key`` value for many different bodies, which the
service rightly refuses (422 ``IDEMPOTENCY_KEY_REUSED``): a valid key is therefore made
specific to its body (a digest of the body appended, staying within 255 characters), so that
the same key still comes back with the same body and invalid keys stay invalid.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import schemathesis


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: Any) -> Any:
    if isinstance(case.body, dict | list):
        case.body = _integral(case.body)
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 0 < len(key) <= 255:
        body = json.dumps(case.body, sort_keys=True, default=str).encode()
        case.headers["Idempotency-Key"] = key[:190] + hashlib.sha256(body).hexdigest()
    return case
