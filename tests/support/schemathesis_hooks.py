"""Schemathesis hooks for ``tests/app/test_openapi.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

JSON Schema counts ``191.0`` as an integer; the service is stricter and takes only integers
written as integers (``maxTokens: 1.0`` is a 422, as the README says). Generated requests
therefore write integral numbers as integers, so that a "schema-valid request rejected" report
means a real disagreement between the document and the service.
"""

from __future__ import annotations

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
    return case
