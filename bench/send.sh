#!/usr/bin/env bash
# The send path: rendering an announcement with 10 links (one thread, with a
# MIME-only baseline in the same run), and audience previews over 1,000,000
# imported contacts on SQLite and on PostgreSQL.
# Usage: bench/send.sh [postgres://postgres@127.0.0.1:5432]
set -euo pipefail
cd "$(dirname "$0")/.."
PG="${1:-postgres://postgres@127.0.0.1:5432}"
cargo build --release -q -p sendwell
bin=target/release/sendwell
export SENDWELL_LOG=error
"$bin" bench render --mails 50000
"$bin" bench audience --contacts 1000000 --runs 5
psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS sendwell_bench" -c "CREATE DATABASE sendwell_bench" >/dev/null 2>&1
"$bin" bench audience --contacts 1000000 --runs 5 --database-url "$PG/sendwell_bench"
