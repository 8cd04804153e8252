#!/usr/bin/env bash
# A PostgreSQL server on loopback for the tests of knobs' PostgreSQL studies (tests/test_postgres.py).
#
# Idempotent and quick when the server already runs: installs PostgreSQL only when it is missing
# (Debian's package; needs root), starts the newest installed version's cluster "main" on
# 127.0.0.1:5432, and creates the role knobs (password knobs) and the database knobs_test. The
# tests' default URL, postgresql://knobs:knobs@127.0.0.1:5432/knobs_test, matches, so nothing
# is exported. Override the port with KNOBS_PG_PORT (then set KNOBS_TEST_POSTGRES to match).
set -euo pipefail

PORT="${KNOBS_PG_PORT:-5432}"

as_postgres() { runuser -u postgres -- "$@"; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "postgres.sh: installing PostgreSQL (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster "$VERSION" main --port "$PORT" >/dev/null
fi
# Loopback only: nothing outside this machine reaches the test server. conf.d is included by
# Debian's postgresql.conf and read last, so these lines win; rewriting them is idempotent.
CONF_D="/etc/postgresql/$VERSION/main/conf.d"
mkdir -p "$CONF_D"
printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$PORT" > "$CONF_D/knobs-tests.conf"

if ! pg_isready -q -h 127.0.0.1 -p "$PORT"; then
    pg_ctlcluster "$VERSION" main start || pg_ctlcluster "$VERSION" main restart
    for _ in $(seq 1 50); do
        pg_isready -q -h 127.0.0.1 -p "$PORT" && break
        sleep 0.2
    done
    pg_isready -q -h 127.0.0.1 -p "$PORT" || { echo "postgres.sh: the server did not start" >&2; exit 1; }
fi

psql_q() { as_postgres psql -p "$PORT" -h /var/run/postgresql -XtAq -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_q -c "SELECT 1 FROM pg_roles WHERE rolname = 'knobs'")" != "1" ]; then
    psql_q -c "CREATE ROLE knobs LOGIN PASSWORD 'knobs'"
fi
if [ "$(psql_q -c "SELECT 1 FROM pg_database WHERE datname = 'knobs_test'")" != "1" ]; then
    psql_q -c "CREATE DATABASE knobs_test OWNER knobs"
fi
# A second login with a password no file of a run may contain (tests/test_secrets.py greps for it);
# it acts as knobs (INHERIT), so it reaches the tests' schemas.
if [ "$(psql_q -c "SELECT 1 FROM pg_roles WHERE rolname = 'knobs_masked'")" != "1" ]; then
    psql_q -c "CREATE ROLE knobs_masked LOGIN INHERIT PASSWORD 'pw-4e1b-never-written' IN ROLE knobs"
fi
echo "postgres.sh: PostgreSQL $VERSION ready at postgresql://knobs:knobs@127.0.0.1:$PORT/knobs_test"
