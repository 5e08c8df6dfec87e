# Trusted Releases developer recipes. CI (.ci/run) runs the same commands.

# List the recipes.
default:
    @just --list

# Run the local stack (datastore on SQLite, files under ./state).
run:
    deploy/local-stack.sh

# All tests: every database test on SQLite and on the PostgreSQL at 127.0.0.1:5432.
test:
    cargo test --workspace

# Only the PostgreSQL variants of the database tests.
test-pg:
    cargo test --workspace -- postgres

# Only the SQLite variants, without a PostgreSQL server (the skips are announced).
test-sqlite:
    TR_SKIP_POSTGRES=1 cargo test --workspace -- sqlite

# Opt-in: seven real signed Apache releases (apr, apr-util, subversion, zookeeper, xml-security-c,
# avro-c, httpd; downloaded from Debian's sources into target/real-releases) get no license or rat
# failure and a verified signer.
test-real:
    tests/real/fetch.sh
    cargo test -p e2e --test real_releases -- --ignored --nocapture

# The API contract, as CI runs it: the OpenAPI document is valid and the server keeps to it
# (openapi-spec-validator and schemathesis, pinned in tests/contract/requirements.txt).
test-contract:
    pip install -q -r tests/contract/requirements.txt
    cargo build -p datastore
    tests/contract/run.sh

# Formatting, lints and the dependency check (licences, advisories), as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    bash .ci/advisory-db.sh
    cargo deny --locked --offline check

# Format the code.
fmt:
    cargo fmt --all

# Upload and download 1 GiB: against openssl dgst -sha512 and nginx, with peak memory.
bench-store:
    cargo build --release -p datastore
    python3 tests/bench/store.py

# 1 GiB up and down through the S3 store (Garage on loopback), against the local store and curl.
bench-s3:
    cargo build --release -p datastore
    python3 tests/bench/s3.py

# What CI runs.
ci:
    .ci/run

# The checks against openssl, sqv/gpg, tar, licensecheck; upload-to-checks-done on the stack.
bench-checks:
    cargo build --release -p datastore -p runner
    cargo build --release -p checks --example timing
    python3 tests/bench/checks.py

# Small downloads against nginx, and API reads, under wrk (installed if missing); --postgres too.
bench-read:
    cargo build --release -p datastore -p runner
    python3 tests/bench/read.py
    python3 tests/bench/read.py --postgres

# Verify-by-hash with one blob, then a million (p99 under 10 ms), under wrk; --postgres too.
bench-verify:
    cargo build --release -p datastore
    python3 tests/bench/verify.py
    python3 tests/bench/verify.py --postgres
