#!/usr/bin/env bash
# The 1,000,000-row offline import, this checkout against an earlier commit,
# alternating in one run so both see the same machine (these machines change
# speed by twofold within a day). Each binary runs ROUNDS times.
# Usage: bench/import-compare.sh REV [ROUNDS]     e.g. bench/import-compare.sh 4312c25 2
set -euo pipefail
cd "$(dirname "$0")/.."
REV="${1:?give the commit to compare against}"
ROUNDS="${2:-2}"
export SENDWELL_LOG=error
out=$(mktemp -d)
trap 'git worktree remove --force "$out/tree" >/dev/null 2>&1 || true; rm -rf "$out"' EXIT
cargo build --release -q -p sendwell
cp target/release/sendwell "$out/now"
git worktree add -q "$out/tree" "$REV"
# A target directory of its own: sharing target/ would let cargo, which
# judges by file times, take the older commit's crates for this checkout's.
# It is kept, so later comparisons rebuild only the workspace's crates.
(cd "$out/tree" && CARGO_TARGET_DIR="$OLDPWD/target/compare" cargo build --release -q -p sendwell)
cp target/compare/release/sendwell "$out/then"
for _ in $(seq "$ROUNDS"); do
  for bin in then now; do
    if [ "$bin" = then ]; then printf '%s: ' "$REV"; else printf 'this checkout: '; fi
    "$out/$bin" bench import --rows 1000000
  done
done
