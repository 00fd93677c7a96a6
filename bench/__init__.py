"""The benchmark suite: ``python -m bench`` (see ``bench/__main__.py``).

It runs real processes on loopback — a ``redis-server``, the service (``python -m app``, demo
backend, real JWT verification, no tools), a naive peer (``bench.baseline``: the same job API
doing the same work written plainly — JWT verified per request, the same input model, one
``SET`` per job, the same demo model and throttle run inside the stream's response, no Redis
write per event — served by uvicorn the same way) and a load generator in its own process
(``bench.load``) — and prints one table with the service's numbers beside the peer's.
"""
