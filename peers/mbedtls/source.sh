# Sourced by build.sh and fuzz/build.sh (not run): the pinned mbedTLS
# source package, fetched once into the cache and checked, and our patch
# series applied to an unpacked copy. The caller defines log and die.
#
# Sets: atls_cache (the user's cache root), srcdir (where the source
# package lives), dsc (its .dsc), sha256 (its files' checksums), series.

atls_cache=${ATLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/attested-tls}
mbedtls_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$atls_cache/mbedtls/src
pkg=mbedtls
ver=3.6.6-0.1~deb13u1
dsc=$srcdir/mbedtls_3.6.6-0.1~deb13u1.dsc
declare -A sha256=(
  ["mbedtls_3.6.6-0.1~deb13u1.dsc"]=eb9ed1adbbddcb0d00276fac6fcee0056c64ce01481c2522a16dca75792eb5eb
  ["mbedtls_3.6.6.orig.tar.bz2"]=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
  ["mbedtls_3.6.6-0.1~deb13u1.debian.tar.xz"]=210466c522eeebc85cf2f76bd5aef935b4ebac465559cc0a84f9e73a8ed6601c
)
series=$mbedtls_here/patches/series

# patches lists the series' patch files, in order.
patches() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$series"; }

source_verified() {
  local f
  for f in "${!sha256[@]}"; do
    [ -f "$srcdir/$f" ] || return 1
    echo "${sha256[$f]}  $srcdir/$f" | sha256sum -c --status - || return 1
  done
}

# fetch_source downloads the source package from Debian unless the cache
# holds it with the pinned checksums (one fetch at a time: its own lock).
fetch_source() {
  local tool f
  for tool in apt-get dpkg-source sha256sum flock; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y dpkg-dev util-linux)"
  done
  mkdir -p "$srcdir"
  (
    flock 8
    source_verified && exit 0
    log "fetching $pkg $ver source from Debian (apt-get source --download-only $pkg=$ver)"
    (cd "$srcdir" && apt-get source --download-only "$pkg=$ver" >&2) ||
      die "apt-get source failed: is there a deb-src entry for trixie? (peers/mbedtls/README.md)"
    for f in "${!sha256[@]}"; do
      echo "${sha256[$f]}  $srcdir/$f" | sha256sum -c - >&2 || die "checksum mismatch for $f"
    done
  ) 8>"$srcdir/.lock"
}

# unpack_patched unpacks the source package into <dir>/src and applies
# the series.
unpack_patched() {
  local dir=$1 p
  log "unpacking into $dir"
  (cd "$dir" && dpkg-source --no-check -x "$dsc" src >&2)
  patches | while read -r p; do
    log "applying $p"
    patch -d "$dir/src" -p1 --forward --batch <"$mbedtls_here/patches/$p" >&2 || die "patch $p does not apply"
  done
}
