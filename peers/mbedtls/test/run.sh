#!/usr/bin/env bash
# The patched mbedTLS's C tests (what `make test` runs): the ta-07
# handshake exporter secret and channel binder against every test of
# vectors/binders/ta-07.json. ../build.sh compiles them beside the peer
# (<dist>/test/, outside what the image takes); a warm run only hashes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=$(nice -n 10 bash "$here/../build.sh" | tail -n 1)
"$out/test/ta07-binder-vectors" "$root/vectors/binders/ta-07.json"
