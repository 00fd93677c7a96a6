"""The benchmark suite: ``python -m bench`` (see ``bench/__main__.py``).

It runs real processes on loopback — a ``redis-server``, the service (``python -m app``, demo
backend, real JWT verification), a baseline server (``bench.baseline``: a bare Starlette
endpoint doing one Redis ``SET`` with a TTL, and a bare SSE endpoint writing the same events,
served by uvicorn the same way) and a load generator in its own process (``bench.load``) — and
prints one table with the service's numbers beside the baseline's.
"""
