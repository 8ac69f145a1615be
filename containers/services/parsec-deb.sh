#!/usr/bin/env bash
# Unpacks the Parsec service 1.4.1 (Debian trixie's parsec-service, which
# does not install on bookworm: its tss2 dependencies need a newer libc)
# and the trixie libmbedcrypto16 it links into a cache outside the
# repository. The binary runs there on bookworm's tss2 3.2.1 libraries;
# StartParsec finds it. Idempotent.
set -euo pipefail
ver=1.4.1-3+b2
dir=${ATLS_PARSEC_DIR:-/var/cache/atls/parsec-1.4.1}
if [ -x "$dir/usr/bin/parsec" ] && ls "$dir"/usr/lib/x86_64-linux-gnu/libmbedcrypto.so.16* >/dev/null 2>&1; then
  echo "parsec: $dir present"
  exit 0
fi
# The trixie entry, pinned so nothing from trixie installs by accident.
bash "$(dirname "$0")/../../peers/mbedtls/deb-src.sh"
tmp=$(mktemp -d)
# apt-get download fetches as _apt where that user exists.
if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq "parsec-service=$ver" libmbedcrypto16/trixie) || {
  echo "parsec: cannot download parsec-service $ver from trixie (apt-get update, or the mirror no longer has that version)" >&2
  exit 1
}
rm -rf "$dir.new" && mkdir -p "$dir.new"
for d in "$tmp"/*.deb; do dpkg -x "$d" "$dir.new"; done
rm -rf "$dir" && mv "$dir.new" "$dir"
if LD_LIBRARY_PATH="$dir/usr/lib/x86_64-linux-gnu" ldd "$dir/usr/bin/parsec" | grep -q 'not found'; then
  LD_LIBRARY_PATH="$dir/usr/lib/x86_64-linux-gnu" ldd "$dir/usr/bin/parsec" | grep 'not found' >&2
  echo "parsec: libraries missing (make deps installs bookworm's libtss2)" >&2
  exit 1
fi
echo "parsec: unpacked $ver into $dir"
