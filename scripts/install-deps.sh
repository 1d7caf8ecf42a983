#!/usr/bin/env bash
# Installs what the tests and the demo need from Debian's packages, when missing:
# the CNCF distribution registry, skopeo (the independent client), htpasswd, openssl and curl, zlib's headers
# (compress-nio builds against the system zlib), and tmux (the progress display's test runs ocictl in a pane).
set -euo pipefail
packages=(docker-registry skopeo buildah podman apache2-utils openssl curl python3 zlib1g-dev libcrypt-dev tmux)
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
fi
