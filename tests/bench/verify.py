#!/usr/bin/env python3
"""Benchmark of verify-by-hash (`GET /api/v1/verify/sha512/{hex}`) with a million blobs.

The same datastore answers first with one stored file, then after a million more blobs (each
held by a file of one of 100 revisions: a million revision files) are put into its database:
the answer's latency must not grow with the store (target: the median of the same question at
most 1.5 times the small store's; on SQLite, p99 under 10 ms with a million blobs). wrk runs on loopback with 2 threads and 16 connections for --seconds each, asking for
hashes picked at random from those known (the real file's, and the million's) and unknown.

Usage: tests/bench/verify.py [--seconds N] [--blobs N] [--postgres]   (from the repository
root; `just bench-verify` builds the release binary first). Writes target/bench/verify[-postgres].json.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from common import POSTGRES, datastore_env, drop_schema, request, start_datastore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASTORE = os.path.join(ROOT, "target", "release", "datastore")
REVISIONS = 100

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read import ensure, wrk  # noqa: E402  (wrk's output parsing is shared)


def lua_picking(paths_file):
    """A wrk script asking for the paths in `paths_file`, one picked at random per request."""
    return f"""
local paths = {{}}
for line in io.lines("{paths_file}") do paths[#paths + 1] = line end
math.randomseed(1)
request = function()
  return wrk.format("GET", paths[math.random(#paths)], wrk.headers)
end
"""


def wrk_paths(base, paths, seconds, token, work, name):
    paths_file = os.path.join(work, f"{name}.paths")
    with open(paths_file, "w") as f:
        f.write("\n".join(paths) + "\n")
    script = os.path.join(work, f"{name}.lua")
    with open(script, "w") as f:
        f.write(lua_picking(paths_file))
    return wrk(base, seconds, connections=16, threads=2, extra=["-s", script, "-H", f"Authorization: Bearer {token}"])


def fill(database_url, state, blobs, real_sha256):
    """`blobs` blobs, each in one file of one of REVISIONS new revisions of bench/1.0 (the
    latest also holding the real file); returns a sample of their SHA-512s."""
    rng = random.Random(7)
    now = int(time.time() * 1000)
    sample = []
    rows, files = [], []
    per_revision = blobs // REVISIONS
    for n in range(blobs):
        sha256 = "%064x" % rng.getrandbits(256)
        sha512 = "%0128x" % rng.getrandbits(512)
        rows.append((sha256, sha512, rng.randrange(1, 1 << 30), now))
        files.append((n // per_revision, f"dir-{n % 97}/file-{n}.tar.gz", sha256))
        if n % (blobs // 1000 or 1) == 0:
            sample.append(sha512)
    if database_url == "sqlite":
        db = sqlite3.connect(os.path.join(state, "datastore.db"))
        (release_id, seq) = db.execute(
            "SELECT r.id, r.revision FROM release r WHERE r.version = '1.0'").fetchone()
        db.executemany("INSERT INTO blob (sha256, sha512, size, created_at) VALUES (?, ?, ?, ?)", rows)
        ids = []
        for k in range(REVISIONS):
            cur = db.execute("INSERT INTO revision (release_id, seq, created_by, created_at, description) "
                             "VALUES (?, ?, NULL, ?, 'bench')", (release_id, seq + 1 + k, now))
            ids.append(cur.lastrowid)
        db.executemany("INSERT INTO revision_file (revision_id, path, blob_sha256) VALUES (?, ?, ?)",
                       [(ids[min(r, REVISIONS - 1)], p, s) for (r, p, s) in files])
        db.execute("INSERT INTO revision_file (revision_id, path, blob_sha256) VALUES (?, 'bench-1.0.bin', ?)",
                   (ids[-1], real_sha256))
        db.execute("UPDATE release SET revision = ? WHERE id = ?", (seq + REVISIONS, release_id))
        db.commit()
        db.execute("ANALYZE")
        # The million rows into the database file now, not in the middle of the measurement.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    else:
        psql = ["psql", "-q", "-v", "ON_ERROR_STOP=1", database_url]
        out = subprocess.run(psql + ["-At", "-c", "SELECT id, revision FROM release WHERE version = '1.0'"],
                             check=True, capture_output=True, text=True).stdout.strip()
        release_id, seq = (int(x) for x in out.split("|"))
        blob_csv = os.path.join(state, "blobs.csv")
        with open(blob_csv, "w") as f:
            f.writelines(f"{a},{b},{c},{d}\n" for (a, b, c, d) in rows)
        subprocess.run(psql + ["-c", f"\\copy blob (sha256, sha512, size, created_at) FROM '{blob_csv}' CSV"], check=True)
        values = ",".join(f"({release_id}, {seq + 1 + k}, NULL, {now}, 'bench')" for k in range(REVISIONS))
        out = subprocess.run(psql + ["-At", "-c", "INSERT INTO revision (release_id, seq, created_by, created_at, description) "
                                     f"VALUES {values} RETURNING id"], check=True, capture_output=True, text=True).stdout
        ids = [int(x) for x in out.split()]
        file_csv = os.path.join(state, "files.csv")
        with open(file_csv, "w") as f:
            f.writelines(f"{ids[min(r, REVISIONS - 1)]},{p},{s}\n" for (r, p, s) in files)
            f.write(f"{ids[-1]},bench-1.0.bin,{real_sha256}\n")
        subprocess.run(psql + ["-c", f"\\copy revision_file (revision_id, path, blob_sha256) FROM '{file_csv}' CSV"], check=True)
        subprocess.run(psql + ["-c", f"UPDATE release SET revision = {seq + REVISIONS} WHERE id = {release_id}; ANALYZE"],
                       check=True)
    return sample


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--blobs", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true", help=f"run the datastore on PostgreSQL ({POSTGRES})")
    args = parser.parse_args()
    if not os.path.exists(DATASTORE):
        sys.exit(f"{DATASTORE} is missing: run `cargo build --release -p datastore` (or `just bench-verify`)")
    ensure("wrk", "wrk")
    work = tempfile.mkdtemp(prefix="tr-bench-verify-", dir=os.path.join(ROOT, "target"))
    state = os.path.join(work, "state")
    env, base, schema = datastore_env(state, args.postgres)
    database_url = env.get("DATABASE_URL", "sqlite")
    server, jwt = start_datastore(DATASTORE, env, base)
    result = {"seconds": args.seconds, "connections": 16, "blobs": args.blobs,
              "backend": "postgres" if args.postgres else "sqlite"}
    try:
        request("POST", base + "/api/v1/admin/committees", {"name": "bench", "display_name": "Bench"}, jwt)
        request("POST", base + "/api/v1/admin/projects", {"name": "bench", "committee": "bench", "display_name": "Bench"}, jwt)
        request("POST", base + "/api/v1/releases", {"project": "bench", "version": "1.0"}, jwt)
        real = os.urandom(64 << 10)
        stored = request("PUT", base + "/api/v1/releases/bench/1.0/files/bench-1.0.bin", token=jwt, raw=real)
        assert stored["sha512"] == hashlib.sha512(real).hexdigest(), stored
        real_path = f"/api/v1/verify/sha512/{stored['sha512']}"
        unknown = [f"/api/v1/verify/sha512/{'%0128x' % random.Random(n).getrandbits(512)}" for n in range(1000)]

        result["one_blob"] = wrk_paths(base, [real_path] + unknown, args.seconds, jwt, work, "one")
        started = time.perf_counter()
        sample = fill(database_url, state, args.blobs, stored["sha256"])
        result["fill_seconds"] = round(time.perf_counter() - started, 1)
        answer = request("GET", base + f"/api/v1/verify/sha512/{sample[3]}", token=jwt)
        assert answer["known"] and len(answer["found"]) == 1, answer
        answer = request("GET", base + real_path, token=jwt)
        assert answer["known"] and len(answer["found"]) == 2, answer
        known = [f"/api/v1/verify/sha512/{h}" for h in sample]
        result["million_known"] = wrk_paths(base, known + [real_path], args.seconds, jwt, work, "known")
        result["million_unknown"] = wrk_paths(base, unknown, args.seconds, jwt, work, "unknown")
    finally:
        server.terminate()
        server.wait()
        drop_schema(schema)
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    name = "verify-postgres.json" if args.postgres else "verify.json"
    with open(os.path.join(ROOT, "target", "bench", name), "w") as out:
        json.dump(result, out, indent=2)
    shutil.rmtree(work, ignore_errors=True)
    print(f"verify-by-hash on {result['backend']}, {args.blobs:,} blobs filled in {result['fill_seconds']} s:")
    for label in ("one_blob", "million_known", "million_unknown"):
        r = result[label]
        print(f"  {label:16} {r['rps']:>9,.0f} requests/s   p50 {r['p50_ms']:.2f} ms   p99 {r['p99_ms']:.2f} ms")
    # The same question (mostly unknown hashes) of the small and the large store.
    growth = result["million_unknown"]["p50_ms"] / result["one_blob"]["p50_ms"]
    p99 = max(result["million_known"]["p99_ms"], result["million_unknown"]["p99_ms"])
    result["p50_growth"] = round(growth, 2)
    missed = growth > 1.5 or (not args.postgres and p99 >= 10)
    print(f"  p50 with {args.blobs:,} blobs / with one: {growth:.2f} (target: at most 1.5)")
    print(f"  p99 with {args.blobs:,} blobs: {p99:.2f} ms" + ("" if args.postgres else " (target on SQLite: under 10 ms)"))
    if missed:
        sys.exit("verify-by-hash MISSES its target")


if __name__ == "__main__":
    main()
