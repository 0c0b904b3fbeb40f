#!/usr/bin/env bash
# Imports through POST /v1/imports (CSV streamed from a file): 100,000 and
# 1,000,000 rows with offline checks on SQLite, 1,000,000 with DNS checks
# against a counting stub resolver, 100,000 on PostgreSQL; and, as the
# same-run baseline, 100,000 contacts through POST /v1/contacts/batch.
# Usage: bench/import.sh [postgres://postgres@127.0.0.1:5432]
set -euo pipefail
cd "$(dirname "$0")/.."
PG="${1:-postgres://postgres@127.0.0.1:5432}"
cargo build --release -q -p sendwell
bin=target/release/sendwell
export SENDWELL_LOG=warn
"$bin" bench contacts --count 100000 --batch 1000
"$bin" bench import --rows 100000
"$bin" bench import --rows 1000000
"$bin" bench import --rows 1000000 --dns
psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS sendwell_bench" -c "CREATE DATABASE sendwell_bench" >/dev/null 2>&1
"$bin" bench import --rows 100000 --database-url "$PG/sendwell_bench"
