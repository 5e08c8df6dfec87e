#!/usr/bin/env bash
# Puts the RustSec advisory database where deny.toml's `db-path` says, for
# `cargo deny --offline check`: a fresh clone from GitHub where GitHub is reachable, otherwise
# the snapshot committed beside this script (advisory-db.tar.gz: the `crates/` advisories and
# the CC0 licence of github.com/rustsec/advisory-db at the commit below). Says which it used.
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot_commit=bf5c0d245a92671908518d7e765914d437954ed6
snapshot_date=2026-08-21
# cargo-deny's directory name for https://github.com/RustSec/advisory-db.
dir=target/advisory-db/advisory-db-3157b0e258782691

if [ "${1:-}" = --refresh ]; then
    work=$(mktemp -d)
    git clone -q --depth 1 https://github.com/RustSec/advisory-db "$work/db"
    git -C "$work/db" archive --format=tar.gz HEAD crates LICENSE.txt >.ci/advisory-db.tar.gz
    commit=$(git -C "$work/db" rev-parse HEAD)
    date=$(git -C "$work/db" log -1 --format=%cs)
    sed -i -e "s/^snapshot_commit=.*/snapshot_commit=$commit/" -e "s/^snapshot_date=.*/snapshot_date=$date/" "$0"
    rm -rf "$work"
    echo "snapshot refreshed: $commit ($date)"
    exit 0
fi

rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
if timeout 60 git clone -q --depth 1 https://github.com/RustSec/advisory-db "$dir" 2>/dev/null; then
    echo "advisory database: fresh from GitHub ($(git -C "$dir" log -1 --format='%h, %cs'))"
else
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -xzf .ci/advisory-db.tar.gz -C "$dir"
    echo "advisory database: GitHub is not reachable; using the committed snapshot of $snapshot_date" \
        "(rustsec/advisory-db $snapshot_commit). Refresh it with .ci/advisory-db.sh --refresh on a machine that reaches GitHub."
fi
