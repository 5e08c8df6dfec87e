#!/usr/bin/env python3
"""Benchmark of the read path against nginx, in the same run, with wrk on loopback.

- small downloads: GET of a 4 KiB candidate file from the datastore and from nginx (sendfile)
  serving the same bytes (target: at least 0.5x nginx's requests/s, p99 under 5 ms);
- API reads: a release, its files, its checks, the project list (target: at least 10,000
  requests/s, p99 under 10 ms, on SQLite; reported on PostgreSQL with --postgres);
- one kept-alive connection: requests/s and p99, which a 40 ms Nagle/delayed-ACK stall
  would ruin.

wrk runs with 2 threads and 32 connections (1 for the kept-alive figure) for --seconds each.

Usage: tests/bench/read.py [--seconds N] [--postgres]   (from the repository root; `just
bench-read` builds the release binaries first). Writes target/bench/read[-postgres].json.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import POSTGRES, datastore_env, drop_schema, free_port, request, start_datastore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASTORE = os.path.join(ROOT, "target", "release", "datastore")
RUNNER = os.path.join(ROOT, "target", "release", "runner")


def ensure(tool, package):
    if shutil.which(tool):
        return shutil.which(tool)
    print(f"{tool} is not installed; installing it (apt-get install {package}) for the benchmark", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, stdout=subprocess.DEVNULL)
    return shutil.which(tool) or f"/usr/sbin/{tool}"


def wrk(url, seconds, connections=32, threads=2, extra=()):
    """Requests/s and p50/p99 latency in ms of `url` under wrk (`extra`: more of its options)."""
    out = subprocess.run(["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          *extra, url],
                         check=True, capture_output=True, text=True).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(percent):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(match.group(1)) * unit[match.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url} answered {errors.group(1)} errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50_ms": latency(50), "p99_ms": latency(99)}


def setup(base, env, jwt, work):
    """A candidate release with a 4 KiB file and its checksum, checked by a real runner."""
    request("POST", base + "/api/v1/admin/committees", {"name": "bench", "display_name": "Bench"}, jwt)
    request("POST", base + "/api/v1/admin/projects", {"name": "bench", "committee": "bench", "display_name": "Bench"}, jwt)
    request("POST", base + "/api/v1/releases", {"project": "bench", "version": "1.0"}, jwt)
    small = os.urandom(4096)
    request("PUT", base + "/api/v1/releases/bench/1.0/files/bench-1.0.bin", token=jwt, raw=small)
    import hashlib
    line = f"{hashlib.sha512(small).hexdigest()}  bench-1.0.bin\n".encode()
    request("PUT", base + "/api/v1/releases/bench/1.0/files/bench-1.0.bin.sha512", token=jwt, raw=line)
    token = subprocess.run([DATASTORE, "runner", "add", "bench-runner"], env=env, check=True, capture_output=True,
                           text=True).stdout.strip()
    runner = subprocess.Popen([RUNNER], env=dict(env, RUNNER_TOKEN=token, RUNNER_DATASTORE_URL=base,
                                                 RUNNER_BIND=f"127.0.0.1:{free_port()}", RUNNER_MAX_LOAD="1000",
                                                 RUNNER_WORK_DIR=os.path.join(work, "runner")))
    try:
        deadline = time.monotonic() + 60
        while not request("GET", base + "/api/v1/releases/bench/1.0/checks", token=jwt)["complete"]:
            if time.monotonic() > deadline:
                sys.exit("the checks of the bench release did not finish")
            time.sleep(0.1)
    finally:
        runner.terminate()
        runner.wait()
    return small


def set_candidate(database_url, state):
    """The lifecycle API is later work: the release becomes a candidate in the database."""
    sql = "UPDATE release SET phase = 'candidate'"
    if database_url.startswith("postgres"):
        subprocess.run(["psql", "-q", database_url, "-c", sql], check=True)
    else:
        import sqlite3
        db = sqlite3.connect(os.path.join(state, "datastore.db"))
        db.execute(sql)
        db.commit()
        db.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--postgres", action="store_true", help=f"run the datastore on PostgreSQL ({POSTGRES})")
    args = parser.parse_args()
    for binary in (DATASTORE, RUNNER):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: run `cargo build --release -p datastore -p runner` (or `just bench-read`)")
    nginx = ensure("nginx", "nginx-light")
    ensure("wrk", "wrk")

    work = tempfile.mkdtemp(prefix="tr-bench-read-", dir=os.path.join(ROOT, "target"))
    os.chmod(work, 0o755)  # nginx's workers run as another user
    state = os.path.join(work, "state")
    env, base, schema = datastore_env(state, args.postgres)
    database_url = env.get("DATABASE_URL", "sqlite")
    server, jwt = start_datastore(DATASTORE, env, base)
    nginx_proc = None
    try:
        small = setup(base, env, jwt, work)
        set_candidate(database_url, state)
        served = os.path.join(work, "nginx-root")
        os.makedirs(served)
        with open(os.path.join(served, "bench-1.0.bin"), "wb") as f:
            f.write(small)
        os.chmod(os.path.join(served, "bench-1.0.bin"), 0o644)
        nginx_port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as c:
            c.write(f"""daemon off; worker_processes auto; pid {work}/nginx.pid; error_log {work}/nginx-error.log;
events {{ worker_connections 256; }}
http {{ access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000;
  client_body_temp_path {work}/nginx-tmp; proxy_temp_path {work}/nginx-tmp; fastcgi_temp_path {work}/nginx-tmp;
  uwsgi_temp_path {work}/nginx-tmp; scgi_temp_path {work}/nginx-tmp;
  server {{ listen 127.0.0.1:{nginx_port}; root {served}; }} }}
""")
        os.makedirs(os.path.join(work, "nginx-tmp"))
        nginx_proc = subprocess.Popen([nginx, "-c", conf, "-p", work])
        time.sleep(0.5)
        file_path = "/candidate/bench/1.0/bench-1.0.bin"
        with urllib.request.urlopen(base + file_path) as response:
            assert response.read() == small, "the datastore serves other bytes"
        seconds = args.seconds
        result = {"seconds": seconds, "connections": 32, "backend": "postgres" if args.postgres else "sqlite"}
        result["nginx_small_file"] = wrk(f"http://127.0.0.1:{nginx_port}/bench-1.0.bin", seconds)
        result["datastore_small_file"] = wrk(base + file_path, seconds)
        result["nginx_small_file_one_connection"] = wrk(f"http://127.0.0.1:{nginx_port}/bench-1.0.bin", seconds, 1)
        result["datastore_small_file_one_connection"] = wrk(base + file_path, seconds, 1)
        for name, path in [("api_release", "/api/v1/releases/bench/1.0"), ("api_files", "/api/v1/releases/bench/1.0/files"),
                           ("api_checks", "/api/v1/releases/bench/1.0/checks"), ("api_projects", "/api/v1/projects")]:
            result[name] = wrk(base + path, seconds)
        result["small_file_vs_nginx"] = result["datastore_small_file"]["rps"] / result["nginx_small_file"]["rps"]
    finally:
        server.terminate()
        server.wait()
        if nginx_proc:
            nginx_proc.terminate()
            nginx_proc.wait()
        drop_schema(schema)
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    name = "read-postgres.json" if args.postgres else "read.json"
    with open(os.path.join(ROOT, "target", "bench", name), "w") as out:
        json.dump(result, out, indent=2)
    shutil.rmtree(work, ignore_errors=True)

    def line(label, r, target=""):
        return f"  {label:<34} {r['rps']:>9.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms {target}"

    print(f"\nwrk, 2 threads, 32 connections, {seconds} s each; datastore on {result['backend']}")
    print(line("nginx, 4 KiB file", result["nginx_small_file"]))
    print(line("datastore, 4 KiB file", result["datastore_small_file"],
               f"-> {result['small_file_vs_nginx']:.2f}x nginx (target >= 0.5x, p99 < 5 ms)"))
    print(line("nginx, one kept-alive connection", result["nginx_small_file_one_connection"]))
    print(line("datastore, one kept-alive connection", result["datastore_small_file_one_connection"]))
    for name, label in [("api_release", "GET a release"), ("api_files", "GET its files"), ("api_checks", "GET its checks"),
                        ("api_projects", "GET the project list")]:
        print(line(label, result[name], "(target >= 10000 req/s, p99 < 10 ms)"))


if __name__ == "__main__":
    main()
