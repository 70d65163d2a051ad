#!/bin/bash
# A Python 3.11 base image built from Debian's package mirrors, for machines that can reach a
# Debian mirror but no container registry (Docker Hub unreachable). Use it in place of the
# official python image:
#
#   sudo deploy/local-base-image.sh                       # -> corral-local/python:3.11-bookworm
#   docker build -f deploy/Dockerfile --build-arg PYTHON_IMAGE=corral-local/python:3.11-bookworm .
#
# Needs root (or mmdebstrap's unshare mode), mmdebstrap (apt-get install mmdebstrap) and a
# Docker daemon. Debian bookworm's python3 is 3.11, as in python:3.11-slim-bookworm, but lives
# in /usr/bin, not /usr/local/bin; python-is-python3 provides `python`.
set -euo pipefail
TAG=${1:-corral-local/python:3.11-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Local CA certificates (*.crt) to trust inside the image, e.g. a TLS-intercepting proxy's, so
# that pip in `docker build` can reach PyPI the way the host does. Empty: Debian's CAs only.
EXTRA_CA_DIR=${EXTRA_CA_DIR-/usr/local/share/ca-certificates}
CA_HOOK=true
if [ -n "$EXTRA_CA_DIR" ] && ls "$EXTRA_CA_DIR"/*.crt >/dev/null 2>&1; then
  CA_HOOK="cp $EXTRA_CA_DIR/*.crt \"\$1/usr/local/share/ca-certificates/\" && chroot \"\$1\" update-ca-certificates"
fi
# minbase: essential packages + apt only. Documentation, man pages and translations are left
# out (as the slim images do); apt's package lists are removed at the end by mmdebstrap.
mmdebstrap --variant=minbase \
  --include=python3,python3-venv,python-is-python3,ca-certificates \
  --dpkgopt=path-exclude=/usr/share/doc/* --dpkgopt=path-include=/usr/share/doc/*/copyright \
  --dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/locale/* \
  --dpkgopt=path-exclude=/usr/share/info/* \
  --customize-hook="$CA_HOOK" \
  bookworm - "$MIRROR" \
  | docker import \
      --change 'ENV LANG=C.UTF-8' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["python3"]' \
      - "$TAG"
docker run --rm --network none "$TAG" python -c 'import sys, venv, ssl; print(sys.version)'
