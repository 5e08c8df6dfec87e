#!/usr/bin/env python3
"""Benchmark of the datastore's blob store against standard tools, in the same run.

- upload: PUT of a 1 GiB file through the API (SHA-256 + SHA-512 + fsync) against
  `openssl dgst -sha512` of the same file (target: within 1.2x of openssl's time);
- download: GET of the same 1 GiB over loopback against nginx serving the file
  (target: at least 0.9x nginx's throughput);
- memory: the datastore's peak RSS (VmHWM) while doing it (it must stay flat).

Usage: tests/bench/store.py [--size-mib N] [--runs N]   (run from the repository root;
`just bench-store` builds the release binary first). Writes target/bench/store.json.
BENCH_LOG sets the datastore's RUST_LOG (default "warn"), e.g. BENCH_LOG=datastore=debug.
"""

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import free_port, request, start_datastore, timed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "release", "datastore")


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_nginx():
    if shutil.which("nginx"):
        return shutil.which("nginx")
    print("nginx is not installed; installing it (apt-get install nginx-light) for the comparison", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("nginx") or "/usr/sbin/nginx"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--state-dir", help="where the datastore keeps blobs (default: under target/, on disk); "
                        "point it at a tmpfs such as /dev/shm to measure the pipeline without the disk")
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} is missing: run `cargo build --release -p datastore` (or `just bench-store`)")
    nginx = ensure_nginx()

    work = tempfile.mkdtemp(prefix="tr-bench-", dir=os.path.join(ROOT, "target"))
    os.chmod(work, 0o755)  # nginx's workers run as another user
    state = os.path.join(args.state_dir or work, "tr-bench-state")
    shutil.rmtree(state, ignore_errors=True)
    data = os.path.join(work, "artifact.bin")
    print(f"writing {args.size_mib} MiB of random data to {data}", file=sys.stderr)
    with open(data, "wb") as out:
        for _ in range(args.size_mib):
            out.write(os.urandom(1 << 20))
    os.chmod(data, 0o644)

    port = free_port()
    env = dict(os.environ, DATASTORE_STATE_DIR=state, DATASTORE_BIND=f"127.0.0.1:{port}",
               DATASTORE_MAX_UPLOAD_BYTES=str(8 << 30), DATASTORE_ACCEL_REDIRECT="/_blobs/",
               RUST_LOG=os.environ.get("BENCH_LOG", "warn"))
    base = f"http://127.0.0.1:{port}"
    server, jwt = start_datastore(BINARY, env, base)
    nginx_proc = None
    try:
        request("POST", base + "/api/v1/admin/committees", {"name": "bench", "display_name": "Bench"}, jwt)
        request("POST", base + "/api/v1/admin/projects", {"name": "bench", "committee": "bench", "display_name": "Bench"}, jwt)
        request("POST", base + "/api/v1/releases", {"project": "bench", "version": "1.0"}, jwt)
        rss_idle = rss_kib(server.pid, "VmRSS")

        subprocess.run(["cat", data], check=True, stdout=subprocess.DEVNULL)  # warm the page cache
        openssl_times, upload_times, upload_cpu, curl_cpu = [], [], [], []
        for i in range(args.runs):
            # A different first byte per run: every upload stores new bytes (no deduplication).
            with open(data, "r+b") as f:
                f.write(bytes([i]))
            openssl_times.append(timed(["openssl", "dgst", "-sha512", data], sync=True))
            server_cpu, client_cpu = cpu_s(server.pid), children_cpu_s()
            upload_times.append(timed(["curl", "-sS", "--fail", "-o", "/dev/null", "-H", f"Authorization: Bearer {jwt}",
                                       "-T", data, f"{base}/api/v1/releases/bench/1.0/files/artifact-{i}.bin"], sync=True))
            upload_cpu.append(cpu_s(server.pid) - server_cpu)
            curl_cpu.append(children_cpu_s() - client_cpu)
        rss_peak_upload = rss_kib(server.pid, "VmHWM")

        # Publish the release to download it (the lifecycle API comes later: set the phase directly).
        db = sqlite3.connect(os.path.join(state, "datastore.db"))
        db.execute("UPDATE release SET phase = 'current'")
        db.commit()
        db.close()
        served = os.path.join(work, "nginx-root")
        os.makedirs(served)
        os.link(data, os.path.join(served, "artifact.bin"))
        nginx_port, front_port = free_port(), free_port()
        conf = os.path.join(work, "nginx.conf")
        # Two servers: nginx serving the file itself, and nginx in front of the datastore as
        # deploy/nginx/trusted-releases.conf has it (the datastore resolves the URL, checks the
        # phase and answers conditional requests; nginx sends the bytes of large files).
        with open(conf, "w") as c:
            c.write(f"""daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/nginx-error.log;
user root;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {work}/nginx-tmp; proxy_temp_path {work}/nginx-tmp; fastcgi_temp_path {work}/nginx-tmp;
  uwsgi_temp_path {work}/nginx-tmp; scgi_temp_path {work}/nginx-tmp;
  server {{ listen 127.0.0.1:{nginx_port}; root {served}; }}
  server {{ listen 127.0.0.1:{front_port};
    location / {{ proxy_pass http://127.0.0.1:{port}; proxy_set_header X-Sendfile-Type X-Accel-Redirect; }}
    location /_blobs/ {{ internal; alias {state}/blobs/; etag off;
      add_header ETag $upstream_http_etag; add_header Digest $upstream_http_digest;
      add_header Content-Security-Policy sandbox; add_header X-Content-Type-Options nosniff; }} }} }}
""")
        os.makedirs(os.path.join(work, "nginx-tmp"))
        nginx_proc = subprocess.Popen([nginx, "-c", conf, "-p", work])
        time.sleep(0.5)
        size = os.path.getsize(data)
        last = args.runs - 1
        nginx_get = ["curl", "-sS", "--fail", "-o", "/dev/null", f"http://127.0.0.1:{nginx_port}/artifact.bin"]
        datastore_get = ["curl", "-sS", "--fail", "-o", "/dev/null", f"{base}/current/bench/1.0/artifact-{last}.bin"]
        front_url = f"http://127.0.0.1:{front_port}/current/bench/1.0/artifact-{last}.bin"
        front_get = ["curl", "-sS", "--fail", "-o", "/dev/null", front_url]
        # What goes through the front is the uploaded file, with the datastore's headers.
        fetched = subprocess.run(["curl", "-sS", "--fail", "-D", "-", front_url], check=True, capture_output=True)
        head, _, body = fetched.stdout.partition(b"\r\n\r\n")
        with open(data, "rb") as f:
            assert body == f.read(), "the front served other bytes than those uploaded"
        assert b"sandbox" in head and b"cache-control: public" in head.lower(), head.decode()
        # One untimed download each first: the datastore's copy never entered the page cache (uploads
        # are staged with direct I/O, ADR 0007), nginx's is the hot source file. Both are then served
        # from memory, so the comparison is of the servers, not of the disk.
        timed(nginx_get)
        timed(datastore_get)
        nginx_times, datastore_times, front_times = [], [], []
        for _ in range(args.runs):
            nginx_times.append(timed(nginx_get, sync=True))
            datastore_times.append(timed(datastore_get, sync=True))
            front_times.append(timed(front_get, sync=True))
        rss_peak = rss_kib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait()
        if nginx_proc:
            nginx_proc.terminate()
            nginx_proc.wait()

    mib = size / (1 << 20)
    median = statistics.median
    result = {
        "size_mib": mib,
        "runs": args.runs,
        "openssl_sha512_s": median(openssl_times),
        "upload_s": median(upload_times),
        "upload_vs_openssl": median(upload_times) / median(openssl_times),
        "upload_target": "<= 1.2",
        "upload_datastore_cpu_s": median(upload_cpu),
        "upload_curl_cpu_s": median(curl_cpu),
        "nginx_download_mib_s": mib / median(nginx_times),
        "datastore_download_mib_s": mib / median(datastore_times),
        "download_vs_nginx": median(nginx_times) / median(datastore_times),
        "download_target": ">= 0.9",
        "front_download_mib_s": mib / median(front_times),
        "front_download_vs_nginx": median(nginx_times) / median(front_times),
        "rss_idle_mib": rss_idle / 1024,
        "rss_peak_after_uploads_mib": rss_peak_upload / 1024,
        "rss_peak_mib": rss_peak / 1024,
        "all_openssl_s": openssl_times,
        "all_upload_s": upload_times,
        "all_nginx_s": nginx_times,
        "all_datastore_download_s": datastore_times,
        "all_front_download_s": front_times,
    }
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "store.json"), "w") as out:
        json.dump(result, out, indent=2)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)
    print(f"""
{mib:.0f} MiB, median of {args.runs} runs
  openssl dgst -sha512      {result['openssl_sha512_s']:.2f} s
  upload (PUT, 2 digests)   {result['upload_s']:.2f} s   -> {result['upload_vs_openssl']:.2f}x openssl (target <= 1.2x)
  upload CPU                datastore {result['upload_datastore_cpu_s']:.2f} s, curl {result['upload_curl_cpu_s']:.2f} s
  nginx download            {result['nginx_download_mib_s']:.0f} MiB/s
  datastore download        {result['datastore_download_mib_s']:.0f} MiB/s -> {result['download_vs_nginx']:.2f}x nginx, streamed by the datastore
  through the nginx front   {result['front_download_mib_s']:.0f} MiB/s -> {result['front_download_vs_nginx']:.2f}x nginx (X-Accel-Redirect; target >= 0.9x)
  datastore RSS             idle {result['rss_idle_mib']:.0f} MiB, peak {result['rss_peak_mib']:.0f} MiB
""")


if __name__ == "__main__":
    main()
