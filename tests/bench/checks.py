#!/usr/bin/env python3
"""Benchmarks of the release checks against the standard tools, in the same run.

| ours                                          | standard tool                | target            |
|-----------------------------------------------|------------------------------|-------------------|
| SHA-512 of 1 GiB (checks::digest)             | openssl dgst -sha512         | within 1.1x       |
| signature check of the httpd release          | sqv, gpg --verify            | at least sqv's    |
| httpd tarball read to the end, every check    | tar -tzf                     | no slower         |
| header scan of the extracted httpd tree       | licensecheck -r              | at least 35x      |
| upload-to-all-checks-done, httpd, local stack | -                            | under 1.5 s       |

Each command runs as a whole process (start-up included, for ours too), alternating with its
rival, several times; medians are compared. Usage: tests/bench/checks.py [--runs N]
(`just bench-checks` builds the release binaries first). Writes target/bench/checks.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import free_port, request, timed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
TIMING = os.path.join(RELEASE, "examples", "timing")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "real", "httpd-2.4.68")
TARBALL = os.path.join(FIXTURES, "httpd-2.4.68.tar.gz")


def ensure(tool, package):
    if shutil.which(tool):
        return shutil.which(tool)
    print(f"{tool} is not installed; installing the Debian package {package} for the comparison", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, stdout=subprocess.DEVNULL)
    return shutil.which(tool)


def compare(runs, ours, theirs):
    """Alternates the two commands `runs` times; returns the medians."""
    mine, rival = [], []
    timed(ours)  # warm the page cache and the binaries
    timed(theirs)
    for _ in range(runs):
        mine.append(timed(ours))
        rival.append(timed(theirs))
    return statistics.median(mine), statistics.median(rival), mine, rival


def upload_to_checks_done(work):
    """Fresh stack (datastore + one runner, SQLite); seconds from the first upload of the httpd
    release to the moment its checks report complete."""
    state = tempfile.mkdtemp(prefix="stack-", dir=work)
    port, runner_port = free_port(), free_port()
    env = dict(os.environ, DATASTORE_STATE_DIR=state, DATASTORE_BIND=f"127.0.0.1:{port}", RUST_LOG="warn")
    run = lambda *a: subprocess.run([os.path.join(RELEASE, "datastore"), *a], env=env, check=True,
                                    capture_output=True, text=True).stdout.strip()
    run("user", "add", "bench", "--admin")
    pat = run("token", "create", "bench")
    runner_token = run("runner", "add", "bench-runner")
    datastore = subprocess.Popen([os.path.join(RELEASE, "datastore"), "serve"], env=env)
    runner_env = dict(os.environ, RUNNER_DATASTORE_URL=f"http://127.0.0.1:{port}", RUNNER_TOKEN=runner_token,
                      RUNNER_BIND=f"127.0.0.1:{runner_port}", RUNNER_WORK_DIR=os.path.join(state, "work"),
                      RUNNER_MAX_LOAD="1000", RUST_LOG="warn")
    runner = subprocess.Popen([os.path.join(RELEASE, "runner")], env=runner_env)
    try:
        base = f"http://127.0.0.1:{port}"
        # Ready: the datastore answers and the runner is waiting for work (it has reached the datastore).
        for _ in range(400):
            try:
                urllib.request.urlopen(base + "/healthz")
                status = request("GET", f"http://127.0.0.1:{runner_port}/status")
                if status["last_contact"]:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        jwt = request("POST", base + "/api/v1/jwt", {"uid": "bench", "token": pat})["jwt"]
        request("POST", base + "/api/v1/admin/committees", {"name": "httpd", "display_name": "HTTP Server"}, jwt)
        request("POST", base + "/api/v1/admin/projects", {"name": "httpd", "committee": "httpd", "display_name": "HTTP Server"}, jwt)
        request("POST", base + "/api/v1/releases", {"project": "httpd", "version": "2.4.68"}, jwt)
        with open(os.path.join(FIXTURES, "KEYS"), "rb") as keys:
            request("POST", base + "/api/v1/committees/httpd/keys/import", token=jwt, raw=keys.read())
        files = {name: open(os.path.join(FIXTURES, name), "rb").read()
                 for name in ["httpd-2.4.68.tar.gz", "httpd-2.4.68.tar.gz.asc", "httpd-2.4.68.tar.gz.sha512"]}
        start = time.perf_counter()
        for name, data in files.items():
            request("PUT", f"{base}/api/v1/releases/httpd/2.4.68/files/{name}", token=jwt, raw=data)
        while True:
            report = request("GET", f"{base}/api/v1/releases/httpd/2.4.68/checks")
            if report["complete"]:
                took = time.perf_counter() - start
                break
            time.sleep(0.01)
        bad = [r for r in report["results"] if r["status"] in ("failure", "error")]
        if bad:
            sys.exit(f"the httpd release failed its checks: {bad}")
        return took
    finally:
        runner.terminate()
        datastore.terminate()
        runner.wait()
        datastore.wait()
        shutil.rmtree(state, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for binary in [TIMING, os.path.join(RELEASE, "datastore"), os.path.join(RELEASE, "runner")]:
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: run `just bench-checks` (it builds the release binaries)")
    sqv = ensure("sqv", "sqv")
    licensecheck = ensure("licensecheck", "licensecheck")
    work = tempfile.mkdtemp(prefix="tr-bench-checks-", dir=os.path.join(ROOT, "target"))
    result = {"runs": args.runs}
    try:
        # 1 GiB of random bytes.
        big = os.path.join(work, "1g.bin")
        with open(big, "wb") as out:
            for _ in range(1024):
                out.write(os.urandom(1 << 20))
        ours, openssl, _, _ = compare(args.runs, [TIMING, "sha512", big], ["openssl", "dgst", "-sha512", big])
        sha512sum = statistics.median([timed(["sha512sum", big]) for _ in range(max(1, args.runs // 2))])
        result["sha512"] = {"ours_s": ours, "openssl_s": openssl, "sha512sum_s": sha512sum, "ratio_vs_openssl": ours / openssl,
                            "target": "<= 1.1"}
        os.remove(big)

        # Signature: a keyring for sqv and a GnuPG home for gpg, from the real KEYS.
        home = os.path.join(work, "gnupg")
        os.makedirs(home, mode=0o700)
        subprocess.run(["gpg", "--homedir", home, "--batch", "--import", os.path.join(FIXTURES, "KEYS")],
                       check=False, capture_output=True)
        keyring = os.path.join(work, "keyring.gpg")
        with open(keyring, "wb") as out:
            subprocess.run(["gpg", "--homedir", home, "--export"], check=True, stdout=out, stderr=subprocess.DEVNULL)
        asc = TARBALL + ".asc"
        # Tens of milliseconds per run, where scheduling noise on two cores is a few: more runs.
        signature_runs = max(args.runs, 31)
        ours, sqv_s, _, _ = compare(signature_runs, [TIMING, "verify", TARBALL, asc, os.path.join(FIXTURES, "KEYS")],
                                    [sqv, "--keyring", keyring, asc, TARBALL])
        gpg_s = statistics.median([timed(["gpg", "--homedir", home, "--batch", "--verify", asc, TARBALL]) for _ in range(args.runs)])
        result["signature"] = {"ours_s": ours, "sqv_s": sqv_s, "gpg_s": gpg_s, "ratio_vs_sqv": ours / sqv_s, "target": "<= 1.0",
                               "runs": signature_runs}
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False, capture_output=True)

        # The tarball read to the end.
        ours, tar_s, _, _ = compare(args.runs, [TIMING, "archive", TARBALL], ["tar", "-tzf", TARBALL])
        result["archive"] = {"ours_s": ours, "tar_tzf_s": tar_s, "ratio_vs_tar": ours / tar_s, "target": "<= 1.0"}

        # Header scan of the extracted tree (licensecheck is slow: fewer runs).
        tree = os.path.join(work, "tree")
        os.makedirs(tree)
        subprocess.run(["tar", "-xzf", TARBALL, "-C", tree], check=True)
        tree = os.path.join(tree, "httpd-2.4.68")
        ours = statistics.median([timed([TIMING, "rat-dir", tree]) for _ in range(args.runs)])
        theirs = statistics.median([timed([licensecheck, "-r", tree]) for _ in range(2)])
        result["headers"] = {"ours_s": ours, "licensecheck_s": theirs, "speedup": theirs / ours, "target": ">= 35"}

        # Upload to all checks done, on fresh stacks.
        stack = [upload_to_checks_done(work) for _ in range(args.runs)]
        result["upload_to_checks_done"] = {"median_s": statistics.median(stack), "all_s": stack, "target": "< 1.5"}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "checks.json"), "w") as out:
        json.dump(result, out, indent=2)
    s, g, a, h, u = result["sha512"], result["signature"], result["archive"], result["headers"], result["upload_to_checks_done"]
    print(f"""
medians of {args.runs} runs (unless said), whole processes
  SHA-512 of 1 GiB       ours {s['ours_s']:.2f} s   openssl {s['openssl_s']:.2f} s  (sha512sum {s['sha512sum_s']:.2f} s)  -> {s['ratio_vs_openssl']:.2f}x openssl (target <= 1.1x)
  signature, httpd       ours {g['ours_s'] * 1000:.1f} ms   sqv {g['sqv_s'] * 1000:.1f} ms   gpg {g['gpg_s'] * 1000:.0f} ms  -> {g['ratio_vs_sqv']:.2f}x sqv (target <= 1.0x; {g['runs']} runs)
  httpd tarball read     ours {a['ours_s'] * 1000:.0f} ms   tar -tzf {a['tar_tzf_s'] * 1000:.0f} ms  -> {a['ratio_vs_tar']:.2f}x tar (target <= 1.0x)
  header scan, httpd     ours {h['ours_s'] * 1000:.0f} ms   licensecheck -r {h['licensecheck_s']:.1f} s  -> {h['speedup']:.0f}x faster (target >= 35x)
  upload to checks done  {u['median_s']:.2f} s (target < 1.5 s)
""")


if __name__ == "__main__":
    main()
