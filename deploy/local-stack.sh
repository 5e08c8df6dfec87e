#!/usr/bin/env bash
# Runs the whole Trusted Releases stack on this machine: the datastore on SQLite with its
# files under ./state, on http://127.0.0.1:8080, and one runner (status on
# http://127.0.0.1:8081/status) that checks every upload. Ctrl-C stops both.
#
# The first start creates an administrator, `admin`, with a web password in ./state/admin.password
# (log in at http://127.0.0.1:8080/login) and a personal access token in ./state/admin.token
# (both readable only by you). Exchange the token for a JWT:
#   curl -s -X POST localhost:8080/api/v1/jwt -H 'content-type: application/json' \
#        -d "{\"uid\":\"admin\",\"token\":\"$(cat state/admin.token)\"}"
#
# Configuration comes from the environment, as documented in the README; for example
# DATASTORE_BIND=0.0.0.0:8080 deploy/local-stack.sh
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in pkg-config libssl-dev libpq-dev; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} (needed to build)..." >&2
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "Building (release)..." >&2
cargo build --release --quiet -p datastore -p runner

export DATASTORE_STATE_DIR="${DATASTORE_STATE_DIR:-./state}"
mkdir -p "$DATASTORE_STATE_DIR"
datastore=./target/release/datastore
runner=./target/release/runner

"$datastore" migrate
if [ ! -s "$DATASTORE_STATE_DIR/admin.token" ]; then
    "$datastore" user add admin --admin --name "Local administrator" >/dev/null 2>&1 || true
    (umask 077 && "$datastore" token create admin --label "local stack" > "$DATASTORE_STATE_DIR/admin.token")
    echo "Created the administrator 'admin'; its token is in $DATASTORE_STATE_DIR/admin.token" >&2
fi

if [ ! -s "$DATASTORE_STATE_DIR/admin.password" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$DATASTORE_STATE_DIR/admin.password")
    "$datastore" user passwd admin < "$DATASTORE_STATE_DIR/admin.password"
    echo "The administrator logs in at http://${DATASTORE_BIND:-127.0.0.1:8080}/login with the password in $DATASTORE_STATE_DIR/admin.password" >&2
fi

if [ ! -s "$DATASTORE_STATE_DIR/runner.token" ]; then
    (umask 077 && "$datastore" runner add "local-runner" > "$DATASTORE_STATE_DIR/runner.token")
    echo "Registered the runner 'local-runner'; its token is in $DATASTORE_STATE_DIR/runner.token" >&2
fi

pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait
}
trap stop INT TERM EXIT

"$datastore" serve &
pids+=($!)

bind="${DATASTORE_BIND:-127.0.0.1:8080}"
RUNNER_DATASTORE_URL="${RUNNER_DATASTORE_URL:-http://$bind}" \
RUNNER_TOKEN="$(cat "$DATASTORE_STATE_DIR/runner.token")" \
RUNNER_WORK_DIR="${RUNNER_WORK_DIR:-$DATASTORE_STATE_DIR/runner-work}" \
RUNNER_NAME="${RUNNER_NAME:-local-runner}" \
    "$runner" &
pids+=($!)

echo "Trusted Releases is starting on http://$bind (API reference: /api/docs); runner status on http://${RUNNER_BIND:-127.0.0.1:8081}/status. Ctrl-C stops it." >&2
wait -n
