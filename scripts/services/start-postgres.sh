#!/usr/bin/env bash
# Starts the machine's PostgreSQL cluster if it is not answering on 127.0.0.1:5432, and makes
# sure the role and database the tests use exist (postgres / password postgres, database
# `test`). Idempotent; never stops or reconfigures a server that already runs.
set -euo pipefail

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

if ! pg_ready; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [[ -z "$version" ]]; then
    echo "[postgres] no PostgreSQL cluster under /etc/postgresql: apt-get install postgresql" >&2
    exit 1
  fi
  echo "[postgres] starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  pg_ready || { echo "[postgres] did not answer on 127.0.0.1:5432 within 30 s" >&2; exit 1; }
fi

# A fresh Debian cluster asks for a password over TCP: give the postgres role a known one.
# Where the server trusts local connections (as many CI machines do) this changes nothing.
su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD 'postgres'\"" >/dev/null
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" | grep -q 1; then
  su postgres -c "createdb test"
fi
echo "[postgres] ready on 127.0.0.1:5432 (database test)"
