#!/usr/bin/env bash
# Prepare this machine for the container smoke test (tests/deploy/test_container.py):
#   * podman + runc + mmdebstrap from Debian (installed only when missing);
#   * a containers.conf drop-in that podman reads by default (nothing to export):
#       - runtime = "runc": crun fails on this machine's hybrid cgroup v1/v2 layout;
#       - explicit default_ulimits: podman's own default for root (nofile
#         1048576) is above this sandbox's hard limit (20000) and runc fails with
#         "error setting rlimit type 7: operation not permitted";
#   * the base image docker.io/library/debian:bookworm-slim, which no registry
#     here can serve: built from Debian packages with mmdebstrap and imported.
#
# Idempotent: a second run changes nothing and takes about a second.
# Debian 12, run as root.  Overrides (environment):
#   DEBIAN_MIRROR  mirror for mmdebstrap (default: read from the apt sources)
#   BASE_IMAGE     image name to provide (default docker.io/library/debian:bookworm-slim)
#   CONTAINERS_CONF_DROPIN  where the config goes (default below)
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}"
SUITE=bookworm
CONF_FILE="${CONTAINERS_CONF_DROPIN:-/etc/containers/containers.conf.d/50-loss-service.conf}"

log() { printf '[container-tools] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "must run as root (or have sudo)"
    SUDO="sudo"
fi

# --- 1. packages -------------------------------------------------------------
pkg_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}
missing=()
for p in podman runc mmdebstrap; do
    pkg_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends podman runc mmdebstrap
else
    log "podman, runc and mmdebstrap already installed"
fi

# --- 2. containers.conf drop-in -------------------------------------------------
# /etc/containers/containers.conf.d/*.conf is read by every podman invocation
# (after /usr/share/containers/containers.conf and /etc/containers/containers.conf),
# so neither the tests nor CI need CONTAINERS_CONF exported.
# The limits are capped at this shell's hard limits: a container cannot be given more.
cap_limit() { # wanted, hard
    if [ "$2" = unlimited ] || [ "$2" -ge "$1" ]; then echo "$1"; else echo "$2"; fi
}
nofile="$(cap_limit 20000 "$(ulimit -Hn)")"
nproc="$(cap_limit 32768 "$(ulimit -Hu)")"
conf_content="# Written by .ci/container-tools.sh (loss-service container smoke test).
[containers]
# podman's default for root (nofile=1048576) exceeds this machine's hard limit:
# runc then fails with 'error setting rlimit type 7: operation not permitted'.
default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]

[engine]
# crun fails on the hybrid cgroup v1/v2 layout of these machines; runc works.
runtime = \"runc\"
"
if [ -f "$CONF_FILE" ] && [ "$(cat "$CONF_FILE")" = "$(printf '%s' "$conf_content")" ]; then
    log "config up to date: $CONF_FILE"
else
    log "writing config: $CONF_FILE"
    $SUDO mkdir -p "$(dirname "$CONF_FILE")"
    printf '%s' "$conf_content" | $SUDO tee "$CONF_FILE" >/dev/null
fi

runtime="$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || true)"
[ "$runtime" = runc ] || die "podman does not use runc (got '${runtime}'); is $CONF_FILE read?"
log "podman $(podman version --format '{{.Client.Version}}'), runtime $runtime"

# --- 3. base image -------------------------------------------------------------------
# First deb URI of the apt sources that serves the plain suite (not -security/-updates).
detect_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # deb822: paragraphs separated by blank lines.
        uri="$(awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (line ~ /^Types:/)   { sub(/^Types:[ \t]*/, "", line); types = line }
                    if (line ~ /^URIs:/)    { sub(/^URIs:[ \t]*/, "", line); uris = line }
                    if (line ~ /^Suites:/)  { sub(/^Suites:[ \t]*/, "", line); suites = line }
                    if (line ~ /^Enabled:/) { sub(/^Enabled:[ \t]*/, "", line); enabled = line }
                }
                if (enabled == "no" || (" " types " ") !~ / deb /) next
                if ((" " suites " ") ~ (" " suite " ")) { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f")"
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [opts] URI suite components...
        uri="$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" \
            '$1 == "deb" && $3 == suite { print $2; exit }')"
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    echo "http://deb.debian.org/debian"
}

if podman image exists "$BASE_IMAGE"; then
    log "base image present: $BASE_IMAGE"
else
    mirror="${DEBIAN_MIRROR:-$(detect_mirror)}"
    log "building $BASE_IMAGE with mmdebstrap from $mirror"
    workdir="$(mktemp -d /var/tmp/container-tools.XXXXXX)"
    trap 'rm -rf "$workdir"' EXIT
    # The dpkg path-excludes and apt options mirror what the official slim image
    # does (no docs, man pages or locales), keeping images small. The options are
    # kept in the image (/etc/{apt/apt.conf.d,dpkg/dpkg.cfg.d}/99mmdebstrap).
    # shellcheck disable=SC2016  # "$1" is expanded by mmdebstrap's hook shell
    $SUDO mmdebstrap --variant=minbase --quiet \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --aptopt='APT::Install-Recommends "false"' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/groff/*' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --dpkgopt='path-exclude=/usr/share/linda/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        "$SUITE" "$workdir/base.tar" "$mirror"
    $SUDO podman import --quiet --change 'CMD ["bash"]' \
        "$workdir/base.tar" "$BASE_IMAGE" >/dev/null
    rm -rf "$workdir"
    trap - EXIT
    log "imported $BASE_IMAGE ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes)"
fi

# --- 4. smoke check: the runtime and the ulimits really apply ---------------------------
got="$(podman run --rm --network=none "$BASE_IMAGE" sh -c 'ulimit -n')" \
    || die "podman cannot run a container from $BASE_IMAGE"
[ "$got" = "$nofile" ] || die "default_ulimits not applied (ulimit -n = $got); is $CONF_FILE read?"
log "ok: podman runs $BASE_IMAGE with runc (config $CONF_FILE)"
echo "CONTAINERS_CONF_DROPIN=$CONF_FILE"
