"""`make loadtest`: FunnelCRM under load, as it runs in production, measured from outside.

1. Recreates a PostgreSQL database (LOADTEST_DATABASE_URL), migrates it, seeds the demo data and
   analyzes it (fresh planner statistics, as autovacuum keeps them on a live database).
2. Starts gunicorn with ./gunicorn.conf.py and the unchanged production settings. The driver plays
   the TLS proxy's part and sends `X-Forwarded-Proto: https`, so nothing is relaxed for plain HTTP.
3. Signs in the demo users of every role through POST /api/v1/auth/token/ and drives N concurrent
   clients (default 20) for D seconds (default 60) over a mix of what those roles do: the lead list
   (pages, stage filters, searches), lead details, moves through POST /api/v1/leads/{id}/move/ with
   the version the client read (forward only, on leads the user may move), the funnel report and
   the KPI summary. Each client pauses between requests (--think, mean 1 s) as a user reading the
   page would; `--think 0` measures the server saturated instead. A 409 on a move is an expected
   outcome (another client moved that lead first) and counted apart; any other non-2xx answer or
   exception is an error.
4. Prints p50, p95 and p99 per endpoint with counts and errors, the load average, and PASS/FAIL
   against the targets; exits 1 on a miss. gunicorn is stopped and the Redis database emptied
   whatever happens.

Run from the project folder: `.venv/bin/python tools/loadtest.py --help`.
"""

import argparse
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
import redis

BASE_DIR = Path(__file__).resolve().parent.parent
OPEN_FORWARD = {"lead": "mql", "mql": "sql", "sql": "opportunity", "opportunity": "won"}
TARGETS_P95_MS = {"lead list": 150.0, "move": 100.0}
# Who drives the load: (username, clients). 20 clients by default, scaled for other counts.
USERS = [("rep1", 6), ("rep2", 6), ("manager", 4), ("marketer", 3), ("admin", 1)]
# What each role does, by weight: reps work their leads; marketers read reports more.
MIXES = {
    "rep1": {"lead list": 35, "lead detail": 30, "move": 25, "funnel": 5, "kpi summary": 5},
    "rep2": {"lead list": 35, "lead detail": 30, "move": 25, "funnel": 5, "kpi summary": 5},
    "manager": {"lead list": 30, "lead detail": 20, "move": 20, "funnel": 15, "kpi summary": 15},
    "marketer": {"lead list": 25, "lead detail": 15, "move": 10, "funnel": 25, "kpi summary": 25},
    "admin": {"lead list": 30, "lead detail": 20, "move": 20, "funnel": 15, "kpi summary": 15},
}
PAGE_SIZE = 50  # REST_FRAMEWORK["PAGE_SIZE"]
ENDPOINTS = ["lead list", "lead detail", "move", "funnel", "kpi summary"]


# --- Set-up and tear-down -------------------------------------------------------------------------


def _run(cmd: list[str], env: dict, what: str) -> None:
    started = time.monotonic()
    print(f"== {what}", flush=True)
    result = subprocess.run(  # noqa: S603 (our own commands)
        cmd, env=env, cwd=BASE_DIR, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"{what} failed (exit {result.returncode})")
    print(f"   done in {time.monotonic() - started:.1f} s", flush=True)


def database_reset(url: str) -> None:
    u = urlparse(url)
    name = u.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"LOADTEST_DATABASE_URL: unusable database name {name!r}")
    with psycopg.connect(
        host=u.hostname, port=u.port or 5432, user=u.username, password=u.password,
        dbname="postgres", autocommit=True,
    ) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def database_analyze(url: str) -> None:
    u = urlparse(url)
    with psycopg.connect(
        host=u.hostname, port=u.port or 5432, user=u.username, password=u.password,
        dbname=u.path.lstrip("/"), autocommit=True,
    ) as conn:
        conn.execute("VACUUM ANALYZE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn in its own process group, its JSON log in a file; stopped on exit."""

    def __init__(self, env: dict, port: int, log_path: Path):
        self.port, self.log_path = port, log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603 (our own command)
            [sys.executable, "-m", "gunicorn", "funnelcrm.wsgi", "--bind", f"127.0.0.1:{port}"],
            env=env, cwd=BASE_DIR, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise SystemExit(f"gunicorn exited ({code}); see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"gunicorn did not listen within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# --- The clients ---------------------------------------------------------------------------------


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict = field(default_factory=lambda: defaultdict(list))  # endpoint -> [ms] of 2xx
    conflicts: dict = field(default_factory=lambda: defaultdict(int))
    errors: dict = field(default_factory=lambda: defaultdict(int))
    error_samples: list = field(default_factory=list)

    def record(self, endpoint: str, ms: float, outcome: str, detail: str = "") -> None:
        with self.lock:
            if outcome == "ok":
                self.times[endpoint].append(ms)
            elif outcome == "conflict":
                self.conflicts[endpoint] += 1
                self.times[endpoint + " (409)"].append(ms)
            else:
                self.errors[endpoint] += 1
                if len(self.error_samples) < 10:
                    self.error_samples.append(f"{endpoint}: {detail}")


def _report_periods(today: date) -> list[dict]:
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return [
        {"start": (today - timedelta(days=29)).isoformat(), "end": today.isoformat()},
        {"start": quarter_start.isoformat(), "end": today.isoformat()},
        {"start": date(today.year, 1, 1).isoformat(), "end": today.isoformat()},
        {"start": (today - timedelta(days=365)).isoformat(), "end": today.isoformat()},
    ]


class Client(threading.Thread):
    """One user's session: keeps the leads it last listed, as a browser page would."""

    def __init__(self, base_url, username, token, stats, stop_at, seed, measuring, think):
        super().__init__(daemon=True)
        self.username, self.stats, self.stop_at = username, stats, stop_at
        self.measuring, self.think = measuring, think
        self.random = random.Random(seed)
        self.mix = MIXES[username]
        self.http = httpx.Client(
            base_url=base_url, timeout=30,
            headers={"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"},
        )
        self.leads: dict[int, dict] = {}  # id -> {"stage", "version"} as last read
        self.pages = {"all": 1, "open": 1}  # pages of the unfiltered and the open-stage lists
        self.periods = _report_periods(date.today())

    def run(self):
        try:
            while time.monotonic() < self.stop_at:
                op = self.random.choices(list(self.mix), weights=list(self.mix.values()))[0]
                getattr(self, "do_" + op.replace(" ", "_"))()
                if self.think:
                    time.sleep(self.random.uniform(0, 2 * self.think))
        finally:
            self.http.close()

    def _request(self, endpoint, method, url, **kwargs):
        started = time.perf_counter()
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self._record(endpoint, time.perf_counter() - started, "error", repr(exc))
            return None
        ms = (time.perf_counter() - started) * 1000
        if 200 <= response.status_code < 300:
            self._record(endpoint, ms, "ok")
            return response
        if endpoint == "move" and response.status_code == 409:
            self._record(endpoint, ms, "conflict")
            return response
        self._record(endpoint, ms, "error",
                     f"{method} {url} -> {response.status_code} {response.text[:200]}")
        return None

    def _record(self, endpoint, ms, outcome, detail=""):
        if self.measuring.is_set():
            self.stats.record(endpoint, ms, outcome, detail)

    def _remember(self, lead: dict) -> None:
        self.leads[lead["id"]] = {"stage": lead["stage"], "version": lead["version"]}

    def do_lead_list(self, params=None):
        if params is None:
            roll = self.random.random()
            if roll < 0.3:  # a stage's leads, first page
                params = {"stage": self.random.choice(list(OPEN_FORWARD))}
            elif roll < 0.45:  # a search, first page
                params = {"q": self.random.choice(["an", "er", "in", "co", "gmbh", "ltd"])}
            else:  # browsing: one of the first ten pages there are
                params = {"page": self.random.randint(1, min(self.pages["all"], 10))}
        response = self._request("lead list", "GET", "/api/v1/leads/", params=params)
        if response is None:
            return
        body = response.json()
        kind = "open" if isinstance(params.get("stage"), list) else "all"
        if kind == "open" or set(params) <= {"page"}:
            self.pages[kind] = max(1, math.ceil(body["count"] / PAGE_SIZE))
        for lead in body["results"]:
            self._remember(lead)

    def do_lead_detail(self):
        if not self.leads:
            return self.do_lead_list()
        lead_id = self.random.choice(list(self.leads))
        response = self._request("lead detail", "GET", f"/api/v1/leads/{lead_id}/")
        if response is not None:
            self._remember(response.json())

    def do_move(self):
        movable = [i for i, lead in self.leads.items() if lead["stage"] in OPEN_FORWARD]
        if not movable:
            # As on the board: list the open leads first.
            return self.do_lead_list({"stage": list(OPEN_FORWARD),
                                      "page": self.random.randint(1, min(self.pages["open"], 3))})
        lead_id = self.random.choice(movable)
        lead = self.leads[lead_id]
        response = self._request(
            "move", "POST", f"/api/v1/leads/{lead_id}/move/",
            json={"to_stage": OPEN_FORWARD[lead["stage"]], "version": lead["version"],
                  "note": "load test"},
        )
        if response is None:
            self.leads.pop(lead_id, None)
        elif response.status_code == 409:
            # Someone else moved it: read it again, as the board does after a conflict.
            self.leads.pop(lead_id, None)
        else:
            self._remember(response.json())

    def _report(self, endpoint, path):
        params = dict(self.random.choice(self.periods))
        if self.random.random() < 0.3:
            params["mode"] = "cohort"
        if endpoint == "kpi summary" and self.random.random() < 0.5:
            params["compare"] = "previous"
        self._request(endpoint, "GET", path, params=params)

    def do_funnel(self):
        self._report("funnel", "/api/v1/reports/funnel/")

    def do_kpi_summary(self):
        self._report("kpi summary", "/api/v1/reports/kpis/")


def tokens_get(base_url: str, password: str, usernames: list[str]) -> dict[str, str]:
    tokens = {}
    with httpx.Client(base_url=base_url, timeout=60,
                      headers={"X-Forwarded-Proto": "https"}) as http:
        for username in usernames:
            response = http.post("/api/v1/auth/token/",
                                 json={"username": username, "password": password})
            if response.status_code != 200:
                raise SystemExit(f"sign-in of {username}: {response.status_code} {response.text}")
            tokens[username] = response.json()["token"]
    return tokens


def drive(base_url, tokens, clients, seconds, warmup, seed, think) -> tuple[Stats, float]:
    stats = Stats()
    measuring = threading.Event()
    counts = _clients_per_user(clients)
    stop_at = time.monotonic() + warmup + seconds
    threads = [
        Client(base_url, user, tokens[user], stats, stop_at, seed * 1000 + n, measuring, think)
        for n, user in enumerate(u for u, c in counts for _ in range(c))
    ]
    for thread in threads:
        thread.start()
    time.sleep(warmup)  # connections opened, workers' first requests served, caches warm
    measuring.set()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    return stats, time.monotonic() - started


def _clients_per_user(clients: int) -> list[tuple[str, int]]:
    total = sum(c for _, c in USERS)
    counts = [(u, max(1, round(c * clients / total))) for u, c in USERS]
    while sum(c for _, c in counts) > clients and any(c > 1 for _, c in counts):
        i = max(range(len(counts)), key=lambda k: counts[k][1])
        counts[i] = (counts[i][0], counts[i][1] - 1)
    while sum(c for _, c in counts) < clients:
        counts[0] = (counts[0][0], counts[0][1] + 1)
    return counts


# --- The report ----------------------------------------------------------------------------------


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest rank."""
    if not sorted_ms:
        return float("nan")
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def report(stats: Stats, elapsed: float, clients: int, load_before, load_after) -> bool:
    print()
    print(f"{clients} clients for {elapsed:.1f} s; load average before "
          f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{' '.join(f'{x:.2f}' for x in load_after)} ({os.cpu_count()} CPUs)")
    header = f"{'endpoint':<18}{'ok':>7}{'409':>6}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}"
    print(header + f"{'p99 ms':>9}{'max ms':>9}")
    total_ok = 0
    for endpoint in ENDPOINTS:
        times = sorted(stats.times.get(endpoint, []))
        total_ok += len(times)
        print(f"{endpoint:<18}{len(times):>7}{stats.conflicts.get(endpoint, 0):>6}"
              f"{stats.errors.get(endpoint, 0):>8}{percentile(times, 50):>9.1f}"
              f"{percentile(times, 95):>9.1f}{percentile(times, 99):>9.1f}"
              f"{(times[-1] if times else float('nan')):>9.1f}")
    conflict_times = sorted(stats.times.get("move (409)", []))
    if conflict_times:
        print(f"{'  move (409)':<18}{'':>7}{len(conflict_times):>6}{'':>8}"
              f"{percentile(conflict_times, 50):>9.1f}{percentile(conflict_times, 95):>9.1f}"
              f"{percentile(conflict_times, 99):>9.1f}{conflict_times[-1]:>9.1f}")
    errors = sum(stats.errors.values())
    print(f"throughput: {total_ok / elapsed:.1f} successful requests/s; errors: {errors}")
    for sample in stats.error_samples:
        print(f"  error: {sample}")

    print()
    passed = True
    for endpoint, target in TARGETS_P95_MS.items():
        p95 = percentile(sorted(stats.times.get(endpoint, [])), 95)
        ok = not math.isnan(p95) and p95 < target
        passed &= ok
        print(f"{'PASS' if ok else 'FAIL'}  {endpoint} p95 {p95:.1f} ms (target < {target:.0f} ms)")
    print(f"{'PASS' if errors == 0 else 'FAIL'}  errors {errors} (target 0)")
    passed &= errors == 0
    print("PASS" if passed else "FAIL")
    return passed


# --- Main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds first")
    parser.add_argument(
        "--think", type=float, default=1.0,
        help="each client pauses a uniform 0..2x this many seconds between requests, as a user "
        "reads the page (default 1); 0 sends the next request at once: the server's saturation",
    )
    parser.add_argument("--leads", type=int, default=3000, help="seed_demo --leads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads per worker")
    parser.add_argument("--reuse-db", action="store_true",
                        help="keep the database of the last run (no reset, migrate or seed)")
    args = parser.parse_args()

    database_url = os.environ.get(
        "LOADTEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/funnelcrm_load"
    )
    redis_url = os.environ.get("LOADTEST_REDIS_URL", "redis://127.0.0.1:6379/12")
    password = secrets.token_urlsafe(12)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "CACHE_", "GUNICORN_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "funnelcrm.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        # Moves queue their KPI recompute after commit, as in production (no worker runs here:
        # the queue is emptied at the end). Rate-limit counts live in Redis too.
        "CELERY_BROKER_URL": redis_url,
        "CACHE_URL": redis_url,
        # The rate limit would answer 429 to a test that means to load the server.
        "API_THROTTLE_USER": "1000000/minute",
        "API_THROTTLE_AUTH": "1000/minute",
        "LOG_LEVEL": "WARNING",
    })
    if args.workers:
        env["GUNICORN_WORKERS"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    python = sys.executable

    if not args.reuse_db:
        print(f"== resetting {database_url.rsplit('@', 1)[-1]}", flush=True)
        database_reset(database_url)
    _run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env, "migrate")
    if args.reuse_db:
        _run([python, "manage.py", "shell", "-c",
              "from django.contrib.auth import get_user_model as g; [u.set_password("
              f"{password!r}) or u.save(update_fields=['password']) "
              f"for u in g().objects.filter(username__in={[u for u, _ in USERS]!r})]"],
             env, "reusing the last run's data; demo passwords set")
    else:
        _run([python, "manage.py", "seed_demo", "--leads", str(args.leads), "--seed",
              str(args.seed), "--password", password], env, f"seed_demo --leads {args.leads}")
    # Fresh statistics, as autovacuum keeps them on a live database: right after the seed, the
    # planner still thinks the tables are empty and a rep's lead list sorts all their leads.
    database_analyze(database_url)
    run_dir = Path(tempfile.mkdtemp(prefix="funnelcrm-loadtest-"))
    (run_dir / "static").mkdir()
    env["DJANGO_STATIC_ROOT"] = str(run_dir / "static")  # the API serves no static files
    port = _free_port()
    server = Gunicorn(env, port, run_dir / "gunicorn.log")
    try:
        server.wait_ready()
        base_url = f"http://127.0.0.1:{port}"
        tokens = tokens_get(base_url, password, [u for u, _ in USERS])
        load_before = os.getloadavg()
        cpu_before = time.process_time()
        print(f"== {args.clients} clients for {args.seconds:.0f} s (after {args.warmup:.0f} s "
              f"warm-up) against gunicorn on :{port}; its log: {server.log_path}", flush=True)
        stats, elapsed = drive(base_url, tokens, args.clients, args.seconds, args.warmup,
                               args.seed, args.think)
        driver_cpu = time.process_time() - cpu_before
        passed = report(stats, elapsed, args.clients, load_before, os.getloadavg())
        print(f"(this driver used {driver_cpu:.1f} s of CPU, {driver_cpu / elapsed:.0%} of one "
              f"core; gunicorn: {env.get('GUNICORN_WORKERS', 'default')} workers x "
              f"{env.get('GUNICORN_THREADS', 'default')} threads)")
    finally:
        server.stop()
        redis.Redis.from_url(redis_url).flushdb()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
