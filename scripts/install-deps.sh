#!/usr/bin/env bash
# Installs what the tests and the demo need from Debian's packages, when missing:
# the CNCF distribution registry, skopeo, buildah, podman, umoci and tmux (the independent tools the tests drive),
# htpasswd, openssl and curl, zlib's and libcrypt's headers
# (compress-nio builds against the system zlib), libzstd's headers (OCISchema1 links the system libzstd through
# pkg-config), the zstd CLI (the tests' independent zstd encoder), squid (the forward proxy of the proxy tests),
# oci-image-tool and umoci (the mirroring tests validate and unpack layouts written by killed and resumed copies).
set -euo pipefail
# --build-only: just what building the package needs beyond the Swift toolchain (libzstd's headers; zlib's,
# libcrypt's and pkg-config come with the toolchain's documented Debian requirements).
if [ "${1:-}" = "--build-only" ]; then
  packages=(zlib1g-dev libcrypt-dev libzstd-dev libarchive-dev pkg-config)
else
packages=(docker-registry skopeo buildah podman apache2-utils openssl curl python3 zlib1g-dev libcrypt-dev libzstd-dev libarchive-dev zstd pkg-config tmux squid oci-image-tool umoci)
fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian enables a docker-registry service listening on :5000 on every interface; the tests start their own
# registries on loopback, so make sure the packaged one is not running where a service manager started it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  # The same for squid's service (port 3128): the proxy tests run their own squid on a free port.
  $SUDO systemctl disable --now squid >/dev/null 2>&1 || true
fi
