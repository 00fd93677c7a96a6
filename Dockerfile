# syntax=docker/dockerfile:1
# The job service: docker build -t jobs-service . && docker run -p 8000:8000 jobs-service
# (configured by environment, see the README's Configuration; docker-compose.yml adds Redis).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
# The locked versions first (hash-checked; a layer that survives source changes), then the
# project alone. Every locked dependency ships wheels for linux/amd64 and arm64: no compiler.
COPY requirements/runtime.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY app ./app
COPY auth ./auth
COPY jobs ./jobs
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json
COPY --from=build /opt/venv /opt/venv
# An unprivileged user with no home and no shell; the service writes nothing to disk.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin jobs
USER jobs
EXPOSE 8000
# Ready means Redis answers too (GET /readyz); the image has no curl, Python does it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD ["python", "-m", "app", "--host", "0.0.0.0", "--port", "8000"]
