#!/usr/bin/env bash
# Delivery end to end into Postfix's smtp-sink on loopback, side by side in
# one run: the baseline is Postfix's own smtp-source pushing mails of the
# same size into the same sink over persistent connections.
# Usage: bench/deliver.sh [postgres://postgres@127.0.0.1:5432] [RECIPIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
PG="${1:-postgres://postgres@127.0.0.1:5432}"
N="${2:-100000}"
cargo build --release -q -p sendwell
bin=target/release/sendwell
export SENDWELL_LOG=error
PORT=2527
smtp-sink -u postfix -c 127.0.0.1:$PORT 1000 >/dev/null &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
sleep 0.5
echo "baseline: smtp-source, $N mails of 6 KB over 8 persistent connections"
start=$(date +%s.%N)
smtp-source -s 8 -m "$N" -l 6000 -f bench@acme-mail.com -t reader@company1.com 127.0.0.1:$PORT
end=$(date +%s.%N)
python3 -c "print({'baseline': 'smtp-source', 'mails': $N, 'seconds': round($end - $start, 3), 'messages_per_second': round($N / ($end - $start))})"
"$bin" bench deliver --recipients "$N" --smtp 127.0.0.1:$PORT --dkim none
"$bin" bench deliver --recipients "$N" --smtp 127.0.0.1:$PORT --dkim rsa
"$bin" bench deliver --recipients "$N" --smtp 127.0.0.1:$PORT --dkim ed25519
psql "$PG/postgres" -q -c "DROP DATABASE IF EXISTS sendwell_bench" -c "CREATE DATABASE sendwell_bench" >/dev/null 2>&1
"$bin" bench deliver --recipients "$N" --smtp 127.0.0.1:$PORT --dkim none --workers 2 --database-url "$PG/sendwell_bench"
if [ "${BIG:-0}" = 1 ]; then
  "$bin" bench deliver --recipients 1000000 --smtp 127.0.0.1:$PORT --dkim none
fi
