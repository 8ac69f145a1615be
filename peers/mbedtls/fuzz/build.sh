#!/usr/bin/env bash
# Builds the libFuzzer targets for the patched mbedTLS's attestation
# parsers: the same source package and patch series as ../build.sh, plus
# fuzzing-records.patch (records in the clear, fuzz build only), compiled
# with clang and -fsanitize=address,undefined into a cache directory of
# its own, then the harnesses (fuzz_*.c) and the seed recorder.
#
#   <out>/fuzz_server   the mbedTLS TLS 1.3 server, the input as the client's flights
#   <out>/fuzz_client   the mbedTLS TLS 1.3 client, the input as the server's flights
#   <out>/fuzz_cmw      the peer's CMW reader (peer/cmw.c), the input as a CMW
#   <out>/record        plays both sides in memory and writes the seed flights
#
# The last line of stdout is <out>. Everything lives under
# ${ATLS_CACHE:-~/.cache/attested-tls}/mbedtls-fuzz, keyed by the hash of
# the sources, patches and flags: a warm run only hashes. Needs clang-14
# and libclang-rt-14-dev (Debian 12), and ../build.sh's needs (it runs it
# first: it fetches and checks the source package).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mbedtls=$(cd "$here/.." && pwd)
jobs=${ATLS_BUILD_JOBS:-2}
cc=${FUZZ_CC:-clang-14}

log() { echo "fuzz/build.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=../source.sh
. "$mbedtls/source.sh"
root=$atls_cache
cache=$root/mbedtls-fuzz

command -v "$cc" >/dev/null || die "$cc not found (apt-get install -y clang-14 libclang-rt-14-dev)"
command -v cmake >/dev/null || die "cmake not found"
fetch_source

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-O1 -g $sanitize -fsanitize=fuzzer-no-link -DMBEDTLS_ATLS_FUZZING_UNSAFE_RECORDS"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

libkey=$( {
  sha256sum "$root"/mbedtls/src/mbedtls_3.6.6* | cut -d' ' -f1
  cat "$series"
  patches | while read -r p; do cat "$mbedtls/patches/$p"; done
  cat "$here/fuzzing-records.patch"
  echo "$cc $cflags"
} | sha256sum | cut -c1-16)
libdir=$cache/lib-$libkey

if [ ! -f "$libdir/.done" ]; then
  rm -rf "$libdir"
  mkdir -p "$libdir"
  unpack_patched "$libdir"
  patch -d "$libdir/src" -p1 --forward --batch <"$here/fuzzing-records.patch" >&2 ||
    die "fuzzing-records.patch does not apply"
  log "building the sanitizer library ($cc, -j$jobs)"
  CC=$cc cmake -S "$libdir/src" -B "$libdir/build" -DCMAKE_BUILD_TYPE= -DCMAKE_C_FLAGS="$cflags" \
    -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF -DMBEDTLS_FATAL_WARNINGS=OFF \
    -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
    -DCMAKE_INSTALL_PREFIX="$libdir/prefix" >&2
  cmake --build "$libdir/build" -j "$jobs" >&2
  cmake --install "$libdir/build" >&2
  touch "$libdir/.done"
fi

outkey=$( {
  echo "$libkey"
  for f in "$here"/*.c "$here"/*.h "$here/build.sh" "$mbedtls"/peer/cmw.c "$mbedtls"/peer/cbor.c "$mbedtls"/peer/peer.h; do
    echo "$f"
    cat "$f"
  done
} | sha256sum | cut -c1-16)
out=$cache/bin-$outkey

if [ ! -f "$out/.done" ]; then
  rm -rf "$out"
  mkdir -p "$out"
  inc=(-I"$libdir/prefix/include" -I"$here")
  libs=("$libdir/prefix/lib/libmbedtls.a" "$libdir/prefix/lib/libmbedx509.a" "$libdir/prefix/lib/libmbedcrypto.a")
  for target in server client; do
    log "compiling fuzz_$target"
    "$cc" $sanitize -fsanitize=fuzzer -g -O1 -Wall -Wextra -Werror "${inc[@]}" -DFUZZ_TARGET_"${target^^}" \
      -o "$out/fuzz_$target" "$here/harness.c" "$here/fuzz_main.c" "${libs[@]}"
  done
  # The peer's own CMW reader, alone (no handshake): peer/cmw.c, cbor.c.
  log "compiling fuzz_cmw"
  # shellcheck disable=SC2046
  "$cc" $sanitize -fsanitize=fuzzer -g -O1 -Wall -Wextra -Werror "${inc[@]}" -I"$mbedtls/peer" -D_GNU_SOURCE \
    -o "$out/fuzz_cmw" "$here/fuzz_cmw.c" "$mbedtls/peer/cmw.c" "$mbedtls/peer/cbor.c" $(pkg-config --cflags --libs jansson)
  log "compiling record"
  "$cc" $sanitize -fsanitize=fuzzer-no-link -g -O1 -Wall -Wextra -Werror "${inc[@]}" \
    -o "$out/record" "$here/harness.c" "$here/record.c" "${libs[@]}"
  touch "$out/.done"
fi

echo "$out"
