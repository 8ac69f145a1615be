#!/usr/bin/env bash
# Builds the patched mbedTLS peer: Debian's mbedTLS 3.6.6 source package
# (trixie), checksum-pinned, with our patch series (patches/series) applied
# in order, built with cmake; then the peer program (peer/*.c) linked
# against it, statically, and copied with its shared-library closure into
# one directory:
#
#   <dist>/bin/atls-mbedtls-peer   the contract peer (peers/CONTRACT.md)
#   <dist>/lib/*.so*               every shared library it loads, less glibc
#
# The last line of stdout is <dist>. Everything lives under the user's
# cache (ATLS_CACHE, else $XDG_CACHE_HOME/attested-tls, else
# ~/.cache/attested-tls), never in the repository. The library build is
# cached by the hash of the source package and the patches, the peer by
# that and its own sources: a warm run only hashes.
#
# Needs (Debian 12): dpkg-dev (dpkg-source), cmake, gcc, pkg-config,
# libtss2-dev, libcurl4-openssl-dev, libjansson-dev, and a deb-src entry
# for trixie (see peers/mbedtls/README.md).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ATLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/attested-tls}/mbedtls
jobs=${ATLS_BUILD_JOBS:-2}

# The source package, pinned.
pkg=mbedtls
ver=3.6.6-0.1~deb13u1
declare -A sha256=(
  ["mbedtls_3.6.6-0.1~deb13u1.dsc"]=eb9ed1adbbddcb0d00276fac6fcee0056c64ce01481c2522a16dca75792eb5eb
  ["mbedtls_3.6.6.orig.tar.bz2"]=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
  ["mbedtls_3.6.6-0.1~deb13u1.debian.tar.xz"]=210466c522eeebc85cf2f76bd5aef935b4ebac465559cc0a84f9e73a8ed6601c
)

log() { echo "build.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in dpkg-source cmake gcc pkg-config sha256sum flock; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y dpkg-dev cmake gcc pkg-config util-linux)"
done
for pc in tss2-esys tss2-mu tss2-rc libcurl jansson; do
  pkg-config --exists "$pc" || die "pkg-config $pc not found (apt-get install -y libtss2-dev libcurl4-openssl-dev libjansson-dev)"
done

mkdir -p "$cache/src"
exec 9>"$cache/.lock"
flock 9

verified() {
  local f
  for f in "${!sha256[@]}"; do
    [ -f "$cache/src/$f" ] || return 1
    echo "${sha256[$f]}  $cache/src/$f" | sha256sum -c --status - || return 1
  done
}

if ! verified; then
  log "fetching $pkg $ver source from Debian (apt-get source --download-only $pkg=$ver)"
  (cd "$cache/src" && apt-get source --download-only "$pkg=$ver" >&2) ||
    die "apt-get source failed: is there a deb-src entry for trixie? (README.md)"
  for f in "${!sha256[@]}"; do
    echo "${sha256[$f]}  $cache/src/$f" | sha256sum -c - >&2 || die "checksum mismatch for $f"
  done
fi

series=$here/patches/series
patches() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$series"; }
libkey=$( {
  printf '%s\n' "${sha256[@]}" | sort
  cat "$series"
  patches | while read -r p; do cat "$here/patches/$p"; done
  echo "cmake -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF -DCMAKE_BUILD_TYPE=Release -ffile-prefix-map"
} | sha256sum | cut -c1-16)
libdir=$cache/lib-$libkey

if [ ! -f "$libdir/.done" ]; then
  rm -rf "$libdir"
  mkdir -p "$libdir"
  log "unpacking into $libdir"
  (cd "$libdir" && dpkg-source --no-check -x "$cache/src/mbedtls_3.6.6-0.1~deb13u1.dsc" src >&2)
  patches | while read -r p; do
    log "applying $p"
    patch -d "$libdir/src" -p1 --forward --batch <"$here/patches/$p" >&2 || die "patch $p does not apply"
  done
  log "building mbedTLS (cmake, -j$jobs)"
  cmake -S "$libdir/src" -B "$libdir/build" -DCMAKE_BUILD_TYPE=Release -DENABLE_TESTING=OFF \
    -DENABLE_PROGRAMS=OFF -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
    -DCMAKE_INSTALL_PREFIX="$libdir/prefix" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_C_FLAGS="-ffile-prefix-map=$libdir=/mbedtls" >&2
  cmake --build "$libdir/build" -j "$jobs" >&2
  cmake --install "$libdir/build" >&2
  touch "$libdir/.done"
fi

peerkey=$( {
  echo "$libkey"
  cat "$here/build.sh"
  for f in "$here"/peer/*.[ch]; do echo "$f"; cat "$f"; done
} | sha256sum | cut -c1-16)
dist=$cache/peer-$peerkey

if [ ! -f "$dist/.done" ]; then
  rm -rf "$dist"
  mkdir -p "$dist/bin" "$dist/lib"
  log "compiling the peer into $dist"
  # From a fixed folder, with the checkout's and the cache's paths mapped
  # away: the same sources give the same binary wherever they and the
  # cache are (the image's tag hashes it).
  cd "$here"
  # shellcheck disable=SC2046
  gcc -std=c11 -O2 -g -Wall -Wextra -Werror=implicit-function-declaration -D_GNU_SOURCE \
    -ffile-prefix-map="$here"=/peers/mbedtls -ffile-prefix-map="$libdir"=/mbedtls \
    -I"$libdir/prefix/include" -I"$here/peer" \
    -o "$dist/bin/atls-mbedtls-peer" peer/*.c \
    "$libdir/prefix/lib/libmbedtls.a" "$libdir/prefix/lib/libmbedx509.a" "$libdir/prefix/lib/libmbedcrypto.a" \
    $(pkg-config --cflags --libs tss2-esys tss2-mu tss2-rc libcurl jansson) \
    -Wl,-rpath,'$ORIGIN/../lib' >&2
  # The shared-library closure, less glibc, which every image has.
  ldd "$dist/bin/atls-mbedtls-peer" | awk '/=> \//{print $3}' | while read -r so; do
    case "$(basename "$so")" in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) continue ;;
    esac
    cp -L "$so" "$dist/lib/"
  done
  touch "$dist/.done"
fi

echo "$dist"
