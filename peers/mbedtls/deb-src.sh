#!/usr/bin/env bash
# Adds a trixie entry (deb and deb-src: mbedTLS 3.6.6's source package and
# the Parsec service's binary package, which parsec-deb.sh unpacks) pointing
# at this machine's own Debian mirror, pinned so trixie binaries are never
# installed by accident. Idempotent; prints whether it changed anything.
set -euo pipefail
dst=/etc/apt/sources.list.d/atls-trixie-src.sources
for f in $(grep -rls -E '^Suites:.*\btrixie\b' /etc/apt/sources.list.d/ || true); do
  if grep -qs -E '^Types:.*\bdeb\b' "$f" && grep -qs -E '^Types:.*deb-src' "$f"; then
    echo "deb-src: trixie entry present ($f)"
    exit 0
  fi
done
uri=$(grep -hm1 -E '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
[ -n "$uri" ] || uri=$(grep -hm1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
[ -n "$uri" ] || { echo "deb-src: no Debian source configured on this machine" >&2; exit 1; }
# The pin goes in first: no moment has trixie at the default priority.
cat > /etc/apt/preferences.d/atls-trixie <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 50
PIN
cat > "$dst" <<SRC
Types: deb deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt-get update -qq
echo "deb-src: added $dst"
