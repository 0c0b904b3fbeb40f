#!/usr/bin/env bash
# Loads 100,000 contacts through POST /v1/contacts/batch on SQLite and on
# PostgreSQL, with a same-run baseline of one contact per request.
# Usage: bench/contacts.sh [postgres://postgres@127.0.0.1:5432]
set -euo pipefail
cd "$(dirname "$0")/.."
PG="${1:-postgres://postgres@127.0.0.1:5432}"
cargo build --release -q -p sendwell
bin=target/release/sendwell
fresh_pg() {
  psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS sendwell_bench" -c "CREATE DATABASE sendwell_bench" >/dev/null 2>&1
  echo "$PG/sendwell_bench"
}
SENDWELL_LOG=warn "$bin" bench contacts --count 100000 --batch 1000
SENDWELL_LOG=warn "$bin" bench contacts --count 100000 --batch 1000 --database-url "$(fresh_pg)"
SENDWELL_LOG=warn "$bin" bench contacts --count 10000 --batch 1
SENDWELL_LOG=warn "$bin" bench contacts --count 10000 --batch 1 --database-url "$(fresh_pg)"
