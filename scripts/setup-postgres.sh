#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages (when missing), starts the local cluster, creates the
# test role and database (idempotent), and prints the connection URL on stdout. The tests read it
# from MADOGUCHI_TEST_POSTGRES_URL (scripts/test.sh sets it).
#
#   export MADOGUCHI_TEST_POSTGRES_URL="$(scripts/setup-postgres.sh)"
set -euo pipefail
log() { echo "setup-postgres: $*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing Debian package postgresql"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
VER="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VER main"; then
  log "creating cluster $VER/main"
  as_root pg_createcluster "$VER" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$VER" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  log "starting cluster $VER/main"
  as_root pg_ctlcluster "$VER" main start >&2
fi
PORT="$(pg_lsclusters -h | awk -v v="$VER" '$1 == v && $2 == "main" {print $3}')"
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || { log "PostgreSQL did not come up on port $PORT"; exit 1; }
psql_admin() { as_root su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -tAc \"$1\""; }
if [[ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'madoguchi'")" != 1 ]]; then
  psql_admin "CREATE ROLE madoguchi LOGIN PASSWORD 'madoguchi'" >/dev/null
fi
# Tests of the FAQ versions that replicas share make databases of their own.
if [[ "$(psql_admin "SELECT rolcreatedb FROM pg_roles WHERE rolname = 'madoguchi'")" != t ]]; then
  psql_admin "ALTER ROLE madoguchi CREATEDB" >/dev/null
fi
if [[ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'madoguchi_test'")" != 1 ]]; then
  psql_admin "CREATE DATABASE madoguchi_test OWNER madoguchi" >/dev/null
fi
echo "postgres://madoguchi:madoguchi@127.0.0.1:$PORT/madoguchi_test"
