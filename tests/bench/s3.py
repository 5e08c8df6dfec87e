#!/usr/bin/env python3
"""Benchmark of the S3 blob store against the local one and against curl, in the same run.

One Garage node on loopback (the `garage` program: `cargo install garage --locked`), two
datastores (blobs in the state directory; blobs in the bucket, DATASTORE_BLOB_URL), and:
- upload: PUT of a 1 GiB file through the API into each store, against `curl --aws-sigv4`
  putting the same file straight into the bucket (one PUT, the S3 server's own speed);
- download: GET of that file from each datastore, against `curl --aws-sigv4` getting the object.

Usage: tests/bench/s3.py [--size-mib N] [--runs N]   (from the repository root; `just bench-s3`
builds the release binary first). Writes target/bench/s3.json.
"""

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from common import free_port, request, start_datastore, timed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "release", "datastore")
KEY_ID = "GK0123456789abcdef01234567"
SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def garage_program():
    found = os.environ.get("GARAGE_BIN") or shutil.which("garage") or os.path.expanduser("~/.cargo/bin/garage")
    if not os.path.exists(found):
        sys.exit("garage is not installed: cargo install garage --locked")
    return found


def start_garage(work):
    """A single-node Garage with the bucket `bench`: (process, endpoint, garage command prefix)."""
    garage = garage_program()
    rpc, s3, admin = free_port(), free_port(), free_port()
    conf = os.path.join(work, "garage.toml")
    with open(conf, "w") as c:
        c.write(f"""metadata_dir = "{work}/garage-meta"
data_dir = "{work}/garage-data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secrets.token_hex(32)}"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:{admin}"
""")
    log = open(os.path.join(work, "garage.log"), "w")
    proc = subprocess.Popen([garage, "-c", conf, "server"], stdout=log, stderr=log,
                            env=dict(os.environ, RUST_LOG="garage=warn"))
    cmd = [garage, "-c", conf]

    def until_ok(*args):
        deadline = time.monotonic() + 30
        while True:
            out = subprocess.run([*cmd, *args], capture_output=True, text=True)
            if out.returncode == 0:
                return out.stdout
            if time.monotonic() > deadline:
                sys.exit(f"garage {' '.join(args)}: {out.stderr}")
            time.sleep(0.2)

    node = until_ok("node", "id", "-q").split("@")[0].strip()
    subprocess.run([*cmd, "layout", "assign", "-z", "dc1", "-c", "10G", node], check=True, capture_output=True)
    subprocess.run([*cmd, "layout", "apply", "--version", "1"], check=True, capture_output=True)
    until_ok("bucket", "create", "bench")
    subprocess.run([*cmd, "key", "import", "--yes", "-n", "bench", KEY_ID, SECRET], check=True, capture_output=True)
    subprocess.run([*cmd, "bucket", "allow", "--read", "--write", "--owner", "bench", "--key", KEY_ID],
                   check=True, capture_output=True)
    return proc, f"http://127.0.0.1:{s3}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} is missing: run `cargo build --release -p datastore` (or `just bench-s3`)")
    work = tempfile.mkdtemp(prefix="tr-bench-s3-", dir=os.path.join(ROOT, "target"))
    data = os.path.join(work, "artifact.bin")
    print(f"writing {args.size_mib} MiB of random data to {data}", file=sys.stderr)
    with open(data, "wb") as out:
        for _ in range(args.size_mib):
            out.write(os.urandom(1 << 20))
    subprocess.run(["cat", data], check=True, stdout=subprocess.DEVNULL)  # warm the page cache

    procs = []
    try:
        garage, endpoint = start_garage(work)
        procs.append(garage)
        # Garage wants the body's digest header on every signed request; curl leaves the body
        # unsigned, so it hashes nothing (the datastore signs each part's SHA-256: slower, safer).
        # (A time limit: one PUT of three once stalled for good.)
        sigv4 = ["--aws-sigv4", "aws:amz:garage:s3", "--user", f"{KEY_ID}:{SECRET}",
                 "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--max-time", "120"]
        servers = {}
        for name, extra in [("local", {}), ("s3", {
            "DATASTORE_BLOB_URL": "s3://bench/datastore", "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "garage", "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true"})]:
            port = free_port()
            env = dict(os.environ, DATASTORE_STATE_DIR=os.path.join(work, f"state-{name}"),
                       DATASTORE_BIND=f"127.0.0.1:{port}", DATASTORE_MAX_UPLOAD_BYTES=str(8 << 30),
                       RUST_LOG=os.environ.get("BENCH_LOG", "warn"), **extra)
            base = f"http://127.0.0.1:{port}"
            server, jwt = start_datastore(BINARY, env, base)
            procs.append(server)
            request("POST", base + "/api/v1/admin/committees", {"name": "bench", "display_name": "Bench"}, jwt)
            request("POST", base + "/api/v1/admin/projects",
                    {"name": "bench", "committee": "bench", "display_name": "Bench"}, jwt)
            request("POST", base + "/api/v1/releases", {"project": "bench", "version": "1.0"}, jwt)
            servers[name] = (base, jwt, os.path.join(work, f"state-{name}", "datastore.db"))

        times = {k: [] for k in ["curl_put", "local_put", "s3_put", "curl_get", "local_get", "s3_get"]}
        for i in range(args.runs):
            with open(data, "r+b") as f:  # new bytes each run: no deduplication
                f.write(bytes([i]))
            times["curl_put"].append(timed(["curl", "-sS", "--fail", *sigv4, "-T", data,
                                            f"{endpoint}/bench/direct/artifact-{i}.bin"], sync=True))
            for name in ["local", "s3"]:
                base, jwt, _ = servers[name]
                times[f"{name}_put"].append(timed(["curl", "-sS", "--fail", "-o", "/dev/null", "-H",
                                                   f"Authorization: Bearer {jwt}", "-T", data,
                                                   f"{base}/api/v1/releases/bench/1.0/files/artifact-{i}.bin"], sync=True))
        for name in ["local", "s3"]:
            db = sqlite3.connect(servers[name][2])
            db.execute("UPDATE release SET phase = 'current'")
            db.commit()
            db.close()
        last = args.runs - 1
        for _ in range(args.runs):
            times["curl_get"].append(timed(["curl", "-sS", "--fail", "-o", "/dev/null", *sigv4,
                                            f"{endpoint}/bench/direct/artifact-{last}.bin"]))
            for name in ["local", "s3"]:
                base = servers[name][0]
                times[f"{name}_get"].append(timed(["curl", "-sS", "--fail", "-o", "/dev/null",
                                                   f"{base}/current/bench/1.0/artifact-{last}.bin"]))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()

    mib = args.size_mib
    rate = {k: mib / statistics.median(v) for k, v in times.items()}
    result = {
        "size_mib": mib, "runs": args.runs,
        **{f"{k}_mib_s": round(v, 1) for k, v in rate.items()},
        "s3_put_vs_local": rate["s3_put"] / rate["local_put"],
        "s3_put_vs_curl": rate["s3_put"] / rate["curl_put"],
        "s3_get_vs_local": rate["s3_get"] / rate["local_get"],
        "s3_get_vs_curl": rate["s3_get"] / rate["curl_get"],
        "all_s": times,
    }
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "s3.json"), "w") as out:
        json.dump(result, out, indent=2)
    shutil.rmtree(work, ignore_errors=True)
    print(f"""
{mib} MiB, median of {args.runs} runs (MiB/s)
  upload   curl PUT into Garage {rate['curl_put']:.0f} | datastore, local store {rate['local_put']:.0f} | datastore, S3 store {rate['s3_put']:.0f}
           S3 store = {result['s3_put_vs_local']:.2f}x local, {result['s3_put_vs_curl']:.2f}x curl
  download curl GET from Garage {rate['curl_get']:.0f} | datastore, local store {rate['local_get']:.0f} | datastore, S3 store {rate['s3_get']:.0f}
           S3 store = {result['s3_get_vs_local']:.2f}x local, {result['s3_get_vs_curl']:.2f}x curl
""")


if __name__ == "__main__":
    main()
