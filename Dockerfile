# trustbuild's own image, built by trustbuild on signed base images.
#
#   python3 -m pip wheel --wheel-dir wheelhouse .       # trustbuild and its dependencies
#   trustbuild -t trustbuild --build-arg PYTHON_IMAGE=registry.example.com/python:3.12 .
#
# Base images: no defaults, no Docker Hub; name ones your trust server signs.
#   PYTHON_IMAGE   builds the virtual environment: python3 (3.11 or later, the version the
#                  wheels were made for) with venv and ensurepip, and /bin/sh.
#   RUNTIME_IMAGE  runs it (default: PYTHON_IMAGE): the same python3 at the same path.  Its
#                  stage runs no command, so an image without a shell (distroless) will do.
# The build reads no network: it installs only the wheels in wheelhouse/, made by the same
# Python version as the base's (`python3.12 -m pip wheel --wheel-dir wheelhouse .`).
# The image holds no docker CLI: it is for `check`, `pin`, `lock`, `scan`, `refs`, `inspect`,
# `policy`.
ARG PYTHON_IMAGE
ARG RUNTIME_IMAGE=${PYTHON_IMAGE}

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INDEX=1
COPY wheelhouse/ /wheelhouse/
RUN python3 -m venv /opt/trustbuild \
 && /opt/trustbuild/bin/pip install --find-links /wheelhouse trustbuild \
 && /opt/trustbuild/bin/pip uninstall --yes pip \
 && /opt/trustbuild/bin/trustbuild --version \
 && mkdir -p /home/trustbuild/.docker

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="trustbuild" \
      org.opencontainers.image.description="docker build, only on base images whose tags are signed (Docker Content Trust)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/trustbuild /opt/trustbuild
COPY --from=build --chown=65532:65532 /home/trustbuild /home/trustbuild
ENV PATH="/opt/trustbuild/bin:${PATH:-/usr/local/bin:/usr/bin:/bin}" HOME=/home/trustbuild
USER 65532:65532
WORKDIR /src
ENTRYPOINT ["/opt/trustbuild/bin/trustbuild"]
CMD ["--help"]
