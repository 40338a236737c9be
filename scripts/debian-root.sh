#!/usr/bin/env bash
# debian-root.sh OUT.tar -- a Debian 12 (bookworm) root with what the
# interlink package needs at run time, built by mmdebstrap from the Debian
# mirror this machine's apt uses, and cached: later calls copy the cached
# tarball (IL_DEBIAN_ROOT_CACHE, default ~/.cache/interlink-debian-root).
# Used by the package test (tests/integration/test_deb.py) and `make image`.
# Exits 77 when mmdebstrap is missing or cannot reach the mirror.
set -euo pipefail
out=${1:?usage: debian-root.sh OUT.tar}
cache=${IL_DEBIAN_ROOT_CACHE:-$HOME/.cache/interlink-debian-root}
# The package's run-time dependencies (dpkg-shlibdeps names them; listed
# here so the root is made once), adduser for its postinst, bubblewrap for
# interlink-local's host runtime.
pkgs=adduser,bubblewrap,libcurl4,libgnutls30,libjansson4,libjwt0,libmicrohttpd12,libsqlite3-0,libssl3,libyaml-0-2,ca-certificates
key=$(echo "bookworm $pkgs v1" | sha256sum | cut -c1-12)
cached=$cache/debian12-$key.tar
if [ ! -s "$cached" ]; then
  command -v mmdebstrap >/dev/null || { echo "debian-root: mmdebstrap is not installed" >&2; exit 77; }
  sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || sources=/etc/apt/sources.list
  mkdir -p "$cache"
  tmp=$(mktemp "$cache/.root.XXXXXX.tar")
  if ! mmdebstrap --quiet --mode=unshare --variant=minbase --include="$pkgs" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        bookworm "$tmp" "$sources" >&2; then
    rm -f "$tmp"
    echo "debian-root: mmdebstrap could not build the root from $sources (mirror unreachable?)" >&2
    exit 77
  fi
  mv -f "$tmp" "$cached"
fi
cp --reflink=auto "$cached" "$out"
