#!/usr/bin/env bash
# Builds the patched mbedTLS peer: Debian's mbedTLS 3.6.6 source package
# (trixie), checksum-pinned, with our patch series (patches/series) applied
# in order, built with cmake; then the peer program (peer/*.c) linked
# against it, statically, and copied with its shared-library closure into
# one directory:
#
#   <dist>/bin/atls-mbedtls-peer   the contract peer (peers/CONTRACT.md)
#   <dist>/lib/*.so*               every shared library it loads, less glibc
#   <dist>/test/{ta07,ea07}-binder-vectors the C tests of test/run.sh (not in the image)
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
jobs=${ATLS_BUILD_JOBS:-2}

log() { echo "build.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=source.sh
. "$here/source.sh"
cache=$atls_cache/mbedtls

for tool in dpkg-source cmake gcc pkg-config sha256sum flock; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y dpkg-dev cmake gcc pkg-config util-linux)"
done
for pc in tss2-esys tss2-mu tss2-rc libcurl jansson; do
  pkg-config --exists "$pc" || die "pkg-config $pc not found (apt-get install -y libtss2-dev libcurl4-openssl-dev libjansson-dev)"
done

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
fetch_source

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
  unpack_patched "$libdir"
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
  for f in "$here"/peer/*.[ch] "$here"/test/*.[ch]; do echo "$f"; cat "$f"; done
} | sha256sum | cut -c1-16)
dist=$cache/peer-$peerkey

if [ ! -f "$dist/.done" ]; then
  rm -rf "$dist"
  mkdir -p "$dist/bin" "$dist/lib" "$dist/test"
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
  for t in ta07 ea07; do
    # shellcheck disable=SC2046
    gcc -std=c11 -O2 -g -Wall -Wextra -Werror=implicit-function-declaration -D_GNU_SOURCE \
      -ffile-prefix-map="$here"=/peers/mbedtls -ffile-prefix-map="$libdir"=/mbedtls \
      -I"$libdir/prefix/include" \
      -o "$dist/test/$t-binder-vectors" "test/${t}_binders.c" test/vectors.c \
      "$libdir/prefix/lib/libmbedtls.a" "$libdir/prefix/lib/libmbedx509.a" "$libdir/prefix/lib/libmbedcrypto.a" \
      $(pkg-config --cflags --libs jansson) >&2
  done
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
