# syntax=docker/dockerfile:1
# asktell images, one build target each:
#   docker build --target server -t REGISTRY/asktell-server:0.1.0 .
#   docker build --target worker -t REGISTRY/asktell-worker:0.1.0 .
# The builder stage turns the source into one wheel; each final stage installs that wheel
# (with its pinned dependencies from PyPI) into a virtualenv, so no compiler, source tree or
# build tool reaches a final image. tests/deploy/test_dockerfile.py runs the same `pip`
# commands in a fresh virtualenv and starts the server and a worker from it: keep each
# install on one `pip install` line.

FROM python:3.11.11-slim-bookworm AS builder
WORKDIR /src
COPY pyproject.toml MANIFEST.in README.md ./
COPY scripts/gen_stubs.sh scripts/
COPY proto/ proto/
COPY server/ server/
COPY client/ client/
COPY worker/ worker/
COPY dashboard/ dashboard/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------- shared runtime base
FROM python:3.11.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/asktell/bin:$PATH
# A numeric user, so Kubernetes can check runAsNonRoot without a passwd lookup.
RUN useradd --system --uid 10001 --user-group --home-dir /home/asktell --create-home \
        --shell /usr/sbin/nologin asktell \
    && python -m venv /opt/asktell

# ---------------------------------------------------------------- server: no torch
FROM runtime AS server
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir "$(echo /wheels/asktell-*.whl)[server]"
# Listen on every interface in a container; gRPC on 50051, Prometheus metrics on 9090.
# A SQLite store lives under /data unless ASKTELL_DB names another (PostgreSQL in production).
ENV ASKTELL_HOST=0.0.0.0 \
    ASKTELL_PORT=50051 \
    ASKTELL_METRICS_PORT=9090 \
    ASKTELL_DB=sqlite:////data/asktell.db
RUN mkdir /data && chown 10001:10001 /data
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["asktell", "serve"]

# ---------------------------------------------------------------- worker: PyTorch with CUDA
# Base choice: the same python:3.11 slim image as the server, not nvidia/cuda. On Linux
# x86_64, PyPI's torch==2.13.0 wheel depends on NVIDIA's CUDA runtime, cuBLAS, cuDNN and
# NCCL wheels, so pip brings the exact CUDA libraries this torch was built against. A
# nvidia/cuda:*-cudnn-runtime base would ship a second, unused copy of them (several GB)
# and Ubuntu 22.04's Python 3.10, not 3.11. Only the host's NVIDIA driver is needed: the
# NVIDIA container toolkit / device plugin mounts it, as the variables below ask.
FROM runtime AS worker
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir "$(echo /wheels/asktell-*.whl)[worker]" "torch==2.13.0"
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOME=/home/asktell
WORKDIR /home/asktell
USER 10001:10001
EXPOSE 9090
ENTRYPOINT ["asktell", "worker"]
