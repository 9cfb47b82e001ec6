#!/usr/bin/env bash
# Turns a Citus source tree into an installed PostgreSQL extension on this machine.
#   scripts/citus/build.sh /path/to/citus-13.2.2
# Citus is in no registry this machine reaches; its source is public (citusdata/citus, tag
# v13.2.2, the newest release for PostgreSQL 15). Needs root for the packages and the install.
set -euo pipefail
source_tree=${1:?usage: build.sh CITUS_SOURCE_TREE}
cd "$source_tree"

export DEBIAN_FRONTEND=noninteractive
server_major=$(pg_config --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
apt-get install -y -qq --no-install-recommends "postgresql-server-dev-$server_major" \
  libkrb5-dev liblz4-dev libzstd-dev make gcc >/dev/null

# PostgreSQL 15.14 and later declare have_createdb_privilege() in commands/dbcommands.h, and
# Citus 13.2's compatibility header defines its own static copy: keep the server's.
compat=src/include/pg_version_compat.h
if grep -q 'have_createdb_privilege' "$(pg_config --includedir-server)/commands/dbcommands.h"; then
  perl -0pi -e 's/static inline bool\nhave_createdb_privilege\(void\)\n\{.*?\n\}\n//s' "$compat"
fi

# A git checkout gives every file the checkout's time, so make may think `configure` is older
# than `configure.ac` and try to regenerate it with autoconf, which this machine lacks.
touch configure
./configure --without-libcurl >/dev/null
# No LLVM bitcode for the JIT: it doubles the build and Aura's queries are not JIT-sized.
make -j"$(nproc)" with_llvm=no >/dev/null
make install with_llvm=no >/dev/null
echo "Citus installed into $(pg_config --pkglibdir)"
