#!/usr/bin/env bash
# `make image-test`: builds the production image (Dockerfile) with no image registry, runs it
# with podman and proves it serves (scripts/image_test.py). Needs root (podman, debootstrap).
#
#   1. installs podman, buildah, runc and debootstrap (Debian packages) when missing;
#   2. the base: Debian bookworm from the machine's own apt mirror (debootstrap), made as small
#      as Debian's bookworm-slim image, imported into podman once and reused (remove it to
#      rebuild: podman rmi $BASE_IMAGE);
#   3. the image: buildah with the base as FROM; its layers are cached, so a rebuild after a
#      code change only copies and compiles the code;
#   4. the run: the image's size, then the container against the stand-in vendor: health
#      check, token flow, reload (SIGHUP), stop.
#
# BASE_IMAGE, IMAGE and DEBIAN_MIRROR override the defaults below.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-localhost/broker-base:bookworm-slim}
IMAGE=${IMAGE:-localhost/mindset-token-broker:test}
PYTHON=${PYTHON:-.venv/bin/python}
started=$SECONDS
step() { echo "image-test: $* ($((SECONDS - started)) s)"; }
trap 'echo "image-test: FAILED: line $LINENO: $BASH_COMMAND" >&2' ERR

scripts/install-system-packages.sh podman buildah runc debootstrap
# podman's network back end is only a recommended package, which the line above leaves out;
# without it every podman command fails, even with --network host.
if [ ! -x /usr/lib/podman/netavark ]; then
    echo "installing netavark (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends netavark
fi

# The first plain Debian archive this machine's apt uses (one-line or deb822 sources).
apt_mirror() {
    local files=() file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] && files+=("$file")
    done
    ((${#files[@]})) || return 0
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; break } }
         $1 == "URIs:" { print $2 }' "${files[@]}" \
        | awk '/\/debian\/?$/ { print; exit }'
}

# What Debian's own bookworm-slim image leaves out of debootstrap's file system (and the image
# is measured against a limit): the package lists and downloaded packages, documentation
# (copyright files kept), manual pages and translations.
slim() {
    local root=$1
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/*
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
        -exec rm -rf {} +
}

if podman image exists "$BASE_IMAGE"; then
    step "base $BASE_IMAGE already built"
else
    mirror=${DEBIAN_MIRROR:-$(apt_mirror)}
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d /tmp/broker-base-XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    step "building the base from $mirror with debootstrap"
    if ! timeout 600 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
        >"$rootfs.log" 2>&1; then
        tail -n 20 "$rootfs.log" >&2
        echo "image-test: debootstrap failed (log above)" >&2
        exit 1
    fi
    rm -f "$rootfs.log"
    slim "$rootfs"
    # An imported file system has no image configuration: give it Debian's PATH.
    tar -C "$rootfs" -c . | podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    step "base $BASE_IMAGE imported"
fi

# pip inside the build trusts what pip trusts here (an inspecting network's CA included); the
# bundle is mounted for the build only, never copied into the image.
ca_bundle=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}}
ca_options=()
if [ -f "$ca_bundle" ]; then
    ca_options=(--volume "$ca_bundle:/run/build-ca.crt:ro" --build-arg BUILD_CA_BUNDLE=/run/build-ca.crt)
fi
step "building $IMAGE"
# --format docker: the OCI format has no HEALTHCHECK. --isolation chroot: no nested runtime.
build_log=$(mktemp /tmp/broker-image-build-XXXXXX.log)
if ! timeout 900 buildah bud --isolation chroot --format docker --layers \
    "${ca_options[@]}" --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" . >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    echo "image-test: the image build failed (the end of buildah's output above)" >&2
    rm -f "$build_log"
    exit 1
fi
rm -f "$build_log"
step "image built"

PYTHONPATH=. timeout 300 "$PYTHON" scripts/image_test.py --image "$IMAGE"
step "done"
