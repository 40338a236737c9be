#!/usr/bin/env bash
# build-image.sh DEB IMAGE -- the container image of deploy/Containerfile:
# a cached Debian 12 root (scripts/debian-root.sh), the interlink package
# installed into it with the interlink user as uid/gid 65532 (what the
# manifests' securityContext runs as), apt's caches and lists dropped, then
# `podman build` FROM scratch.  Prints the image size and checks that it
# runs (`interlink --version`).
set -euo pipefail
deb=${1:?usage: build-image.sh DEB IMAGE}
image=${2:?usage: build-image.sh DEB IMAGE}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/interlink-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$here/scripts/debian-root.sh" "$work/root.tar"
mkdir "$work/root" "$work/ctx"
tar -C "$work/root" --numeric-owner -xf "$work/root.tar"
rm "$work/root.tar"
cp "$deb" "$work/root/tmp/interlink.deb"
chroot "$work/root" groupadd --system --gid 65532 interlink
chroot "$work/root" useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/interlink \
  --no-create-home --shell /usr/sbin/nologin --comment "interLink daemons" interlink 2>/dev/null
chroot "$work/root" dpkg -i /tmp/interlink.deb >/dev/null
rm -rf "$work/root/tmp/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/lib/apt/lists/"* \
  "$work/root/var/cache/debconf/"*-old "$work/root/var/log/"*
install -d -m 0750 -o 65532 -g 65532 "$work/root/run/interlink"
tar -C "$work/root" --numeric-owner -cf "$work/ctx/rootfs.tar" .
cp "$here/deploy/Containerfile" "$work/ctx/Containerfile"
podman build --quiet -t "$image" -f "$work/ctx/Containerfile" "$work/ctx" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image $image: $((size / 1024 / 1024)) MiB ($size bytes)"
# The same ulimits as interlink-local's default PodmanArgs: podman's own
# defaults need CAP_SYS_RESOURCE, which a nested or rootless podman lacks.
podman --runtime runc --cgroup-manager cgroupfs run --rm --network none \
  --ulimit nofile=16384:16384 --ulimit nproc=16384:16384 "$image" interlink --version
