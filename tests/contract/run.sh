#!/usr/bin/env bash
# The API contract: /api/openapi.json is a valid OpenAPI document (openapi-spec-validator), and
# the running datastore does what it says (schemathesis, every check, as an administrator, as an
# anonymous client, and as a runner on the runner protocol). Any finding fails. Run by .ci/run; locally: `just test-contract`.
#
# Needs: a built datastore (DATASTORE_BIN, default target/debug/datastore), and the Python tools
# pinned in tests/contract/requirements.txt (`pip install -r tests/contract/requirements.txt`).
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${DATASTORE_BIN:-target/debug/datastore}
examples=${CONTRACT_MAX_EXAMPLES:-25}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATASTORE_STATE_DIR="$work/state" DATASTORE_BIND="127.0.0.1:$port" RUST_LOG=warn
export SCHEMATHESIS_HOOKS=tests/contract/hooks.py PYTHONDONTWRITEBYTECODE=1
base="http://127.0.0.1:$port"

server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" user add contract --admin --name "Contract tests" >/dev/null
token=$("$bin" token create contract --label contract 2>/dev/null)
runner_token=$("$bin" runner add contract-runner 2>/dev/null)
"$bin" serve >"$work/datastore.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$base/api/openapi.json" >"$work/openapi.json"

echo "openapi-spec-validator:"
openapi-spec-validator "$work/openapi.json"

jwt=$(curl -sf -X POST "$base/api/v1/jwt" -H 'Content-Type: application/json' \
    -d "{\"uid\":\"contract\",\"token\":\"$token\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["jwt"])')

status=0
for who in admin anonymous runner; do
    echo "schemathesis, as $who (at most $examples examples per operation):"
    case $who in
        admin) only=(-H "Authorization: Bearer $jwt") ;;
        anonymous) only=() ;;
        runner) only=(-H "Authorization: Bearer $runner_token" --include-tag runner) ;;
    esac
    schemathesis --config-file tests/contract/schemathesis.toml run "$work/openapi.json" --url "$base" --checks all --max-examples "$examples" \
        --seed 1 --no-color "${only[@]}" >"$work/$who.txt" 2>&1 || status=1
    sed -n '/SUMMARY/,$p' "$work/$who.txt"
    if [ "$status" -ne 0 ]; then
        cat "$work/$who.txt"
        echo "--- datastore log (warnings and errors) ---"
        tail -50 "$work/datastore.log"
        exit 1
    fi
done
