# syntax=docker/dockerfile:1
# One image for every Joulie command (entrypoint `joulie`): `joulie serve` runs as the
# non-root user below; the agent DaemonSet overrides the user to root (uid 0) because the
# host's sysfs power-limit files are root-owned.
#
#   docker build -t joulie:0.1.0 .
#   docker run --rm joulie:0.1.0 plan --example

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/joulie
WORKDIR /src
# .dockerignore keeps the context to what `pip install .` needs.
COPY . .
# The gpu extra (nvidia-ml-py, pure Python) lets the agent drive NVIDIA GPUs from the same image.
RUN /opt/joulie/bin/pip install ".[gpu]" \
    && /opt/joulie/bin/joulie --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="joulie" \
      org.opencontainers.image.description="Kubernetes energy manager: labeller, scheduler extender, node agent" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/joulie/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 joulie \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin joulie
COPY --from=build /opt/joulie /opt/joulie
USER 10001:10001
EXPOSE 8080 9102
ENTRYPOINT ["joulie"]
CMD ["serve"]
