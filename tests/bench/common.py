"""Helpers shared by the benchmark scripts."""

import json
import os
import socket
import subprocess
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd, sync=False, **kwargs):
    """Wall time of a whole command; with `sync`, dirty pages are flushed first."""
    if sync:
        os.sync()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def request(method, url, body=None, token=None, raw=None):
    """A JSON API call; `raw` sends bytes instead of a JSON body."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as response:
        return json.loads(response.read() or b"null")


def wait_for(url, timeout=10.0):
    """Waits until `url` answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_datastore(binary, env, base):
    """An admin user `bench`, `datastore serve` running with `env` at `base`, and a JWT for
    `bench`: returns (server process, jwt). The caller stops the server."""
    run = lambda *a: subprocess.run([binary, *a], env=env, check=True, capture_output=True, text=True).stdout.strip()
    run("user", "add", "bench", "--admin")
    pat = run("token", "create", "bench")
    server = subprocess.Popen([binary, "serve"], env=env)
    try:
        wait_for(base + "/healthz")
        return server, request("POST", base + "/api/v1/jwt", {"uid": "bench", "token": pat})["jwt"]
    except BaseException:
        server.terminate()
        server.wait()
        raise


POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"


def datastore_env(state, postgres):
    """The environment of a benchmark's datastore with its state in `state`, on a free port,
    on SQLite or (with `postgres`) in a schema of its own on the local PostgreSQL: returns
    (env, base URL, schema or None). The caller drops the schema with `drop_schema`."""
    port = free_port()
    env = dict(os.environ, DATASTORE_STATE_DIR=state, DATASTORE_BIND=f"127.0.0.1:{port}",
               RUST_LOG=os.environ.get("BENCH_LOG", "warn"))
    schema = None
    if postgres:
        schema = f"bench_{os.getpid()}"
        subprocess.run(["psql", "-q", POSTGRES, "-c", f"CREATE SCHEMA {schema}"], check=True)
        env["DATABASE_URL"] = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    return env, f"http://127.0.0.1:{port}", schema


def drop_schema(schema):
    if schema:
        subprocess.run(["psql", "-q", POSTGRES, "-c", f"DROP SCHEMA {schema} CASCADE"], check=False)
