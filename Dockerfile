# loss-service: FastAPI loss-computation microservice.
#
# Build (podman or docker, from the repository root):
#   podman build --format docker -t loss-service \
#       --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt .
# The pip_ca secret is optional: pass a CA bundle only where TLS to the package
# index is intercepted. It is mounted for the pip step alone and never stored in
# a layer. `--format docker` keeps the HEALTHCHECK (the OCI format drops it).
#
# Run (HTTP on 8000, the Open Inference Protocol over gRPC on 8001):
#   podman run --rm -p 127.0.0.1:8000:8000 -p 127.0.0.1:8001:8001 loss-service

ARG BASE_IMAGE=debian:bookworm-slim

# ---- build stage: a venv with the package and its dependencies -------------
FROM ${BASE_IMAGE} AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv

WORKDIR /src
COPY pyproject.toml README.md ./
COPY service/ ./service/

RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/pip uninstall -y pip setuptools \
    && find /opt/venv -type d -name tests -path '*/numpy/*' -prune -exec rm -rf {} +

# ---- runtime stage -----------------------------------------------------------
FROM ${BASE_IMAGE}

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log \
    && groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
USER 10001:10001
EXPOSE 8000 8001

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=4).status == 200 else 1)"]

CMD ["python", "-m", "service", "--host", "0.0.0.0"]
