"""Anonymous health polling against the catalogue: does /api/health/ slow GET /api/courses/?

    python -m bench health                 # the figures in docs/benchmarks.md
    python -m bench health --smoke         # tiny sizes, for CI: proves it runs, measures nothing

Two gunicorn servers (gunicorn.conf.py: 2 sync workers, as the Procfile's `web`), DEBUG off,
with one real `celery worker` on the same Redis:
- ours: `lms.wsgi`, the app as shipped (health from the shared cache, workers counted from
  their heartbeat keys);
- seed: `bench._health_live_wsgi`, the same app with health computing every probe and
  pinging the workers (0.5 s broadcast) on every call, as before.

For each, in turns: the p50/p99 of sequential GET /api/courses/ while idle, then again while
HEALTH_CLIENTS (50) concurrent anonymous clients poll /api/health/, each once per --period
seconds (1 s: 50 calls/s; --period 0 makes it a flood, every client back to back). Also
counted: health answers with "workers" different from the one worker running. The target:
p99 under load within 2x the idle p99 (ours).
"""

import argparse
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from bench import _common as common

RESULTS_FILE = common.RESULTS_DIR / "health.json"
VARIANTS = {"ours": "lms.wsgi:application", "seed": "bench._health_live_wsgi:application"}
HEALTH_CLIENTS = 50
# Each anonymous client calls once a second: 50 calls/s in all, ten times what a load balancer
# polling every 5 s from 10 nodes would send.
POLL_PERIOD_SECONDS = 1.0
COURSES = 20
LESSONS_PER_COURSE = 5
TARGET_P99_RATIO = 2.0
WORKER_NAME = "bench-health@lms"
REQUEST_TIMEOUT = 60
SMOKE = {"samples": 5, "seconds_under_load": 1.0}


def create_data() -> None:
    from courses.models import Course, Lesson

    common.truncate(Course)
    courses = Course.objects.bulk_create(
        Course(slug=f"bench-health-{i}", title=f"Bench course {i}", is_published=True) for i in range(COURSES)
    )
    Lesson.objects.bulk_create(
        Lesson(course=course, title=f"Lesson {p}", position=p)
        for course in courses
        for p in range(1, LESSONS_PER_COURSE + 1)
    )


def get(url: str) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310 - our own server
        body = response.read()
        return (time.perf_counter() - started) * 1000, response.status, body


def start_server(processes: common.Processes, variant: str, *, env: dict, tmp_dir: Path) -> int:
    port = common.free_port()
    command = [sys.executable, "-m", "gunicorn", VARIANTS[variant], "--bind", f"127.0.0.1:{port}", "--timeout", "120"]
    server = processes.start(f"gunicorn-{variant}", command, env=env, log_path=tmp_dir / f"gunicorn-{variant}.log")

    def answers():
        server.check_alive()
        try:
            return get(f"http://127.0.0.1:{port}/api/courses/")[1] == 200
        except OSError:
            return False

    common.wait_for(answers, timeout=60, interval=0.2, what=f"gunicorn ({variant})")
    return port


def courses_latencies(base: str, *, samples: int | None = None, stop: threading.Event | None = None) -> list[float]:
    """Sequential GET /api/courses/: `samples` of them, or until `stop` is set."""
    latencies = []
    while (samples is None or len(latencies) < samples) and not (stop and stop.is_set()):
        elapsed, status, _ = get(base + "/api/courses/")
        assert status == 200, status
        latencies.append(elapsed)
    return latencies


def health_load(base: str, *, stop: threading.Event, pool: ThreadPoolExecutor, period: float) -> dict:
    """HEALTH_CLIENTS anonymous clients calling /api/health/ until `stop`: each calls, then
    waits until `period` seconds have passed since its last call began (period 0: a flood, back
    to back). Their starts are spread over one period so they do not move in lockstep."""
    import json

    lock = threading.Lock()
    totals = {"calls": 0, "wrong_worker_count": 0, "slowest_ms": 0.0}

    def client(number: int):
        time.sleep(period * number / HEALTH_CLIENTS)
        while not stop.is_set():
            began = time.monotonic()
            elapsed, status, body = get(base + "/api/health/")
            with lock:
                totals["calls"] += 1
                totals["slowest_ms"] = round(max(totals["slowest_ms"], elapsed), 1)
                if status != 200 or json.loads(body)["workers"] != 1:
                    totals["wrong_worker_count"] += 1
            stop.wait(max(0.0, period - (time.monotonic() - began)))

    list(pool.map(client, range(HEALTH_CLIENTS)))
    return totals


def under_load(base: str, *, samples: int, seconds: float, pool: ThreadPoolExecutor, period: float):
    """GET /api/courses/ latencies while health_load runs, and what the health calls answered."""
    stop = threading.Event()
    load_result = {}
    load = threading.Thread(
        target=lambda: load_result.update(health_load(base, stop=stop, pool=pool, period=period)), daemon=True
    )
    load.start()
    time.sleep(max(0.2, period))  # every client has started
    started = time.monotonic()
    loaded = []
    # `samples` at least, unless the server is so slow that 3x the time yields fewer (the seed).
    while (elapsed := time.monotonic() - started) < seconds or (len(loaded) < samples and elapsed < 3 * seconds):
        loaded.extend(courses_latencies(base, samples=1))
    stop.set()
    load.join()
    load_result["per_second"] = round(load_result["calls"] / (time.monotonic() - started + max(0.2, period)), 1)
    return loaded, load_result


def measure(port: int, *, samples: int, seconds_under_load: float, pool: ThreadPoolExecutor, period: float) -> dict:
    base = f"http://127.0.0.1:{port}"
    courses_latencies(base, samples=20)  # warm both gunicorn workers
    idle = courses_latencies(base, samples=samples)
    loaded, load_result = under_load(base, samples=samples, seconds=seconds_under_load, pool=pool, period=period)

    def figures(values):
        return {
            "samples": len(values),
            "p50_ms": round(common.percentile(values, 50), 2),
            "p99_ms": round(common.percentile(values, 99), 2),
        }

    result = {"idle": figures(idle), "under_health_load": figures(loaded), "health": load_result}
    result["p99_ratio"] = common.ratio(result["under_health_load"]["p99_ms"], result["idle"]["p99_ms"])
    return result


def run(args, *, tmp_dir: Path, broker_url: str) -> dict:
    create_data()
    env = common.service_env(
        database_url=args.database_url, broker_url=broker_url, DEBUG="false", SECRET_KEY="bench-" + "k" * 60
    )
    report = {"variants": {}}
    with common.Processes() as processes:
        worker = processes.start(
            WORKER_NAME,
            common.celery_worker_command(app="lms", name=WORKER_NAME, queues="default", concurrency=1),
            env=env,
            log_path=tmp_dir / "worker.log",
        )
        common.wait_worker_ready(worker)
        ports = {variant: start_server(processes, variant, env=env, tmp_dir=tmp_dir) for variant in args.variants}
        time.sleep(6)  # the worker's first heartbeat is in and any health answer from start-up expired
        with ThreadPoolExecutor(max_workers=HEALTH_CLIENTS) as pool:
            for variant in tqdm(args.variants, desc="variants", unit="variant"):
                report["variants"][variant] = measure(
                    ports[variant],
                    samples=args.samples,
                    seconds_under_load=args.seconds_under_load,
                    pool=pool,
                    period=args.period,
                )
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench health", description=__doc__.split("\n\n")[0])
    common.add_service_arguments(parser)
    parser.add_argument("--samples", type=int, default=300, help="GET /api/courses/ per idle measurement")
    parser.add_argument("--seconds-under-load", type=float, default=10.0, help="how long health is fired at it")
    parser.add_argument(
        "--period",
        type=float,
        default=POLL_PERIOD_SECONDS,
        help="seconds between one health client's calls (0: back to back, a flood)",
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it runs, measures nothing")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    if args.smoke:
        args.samples, args.seconds_under_load = SMOKE["samples"], SMOKE["seconds_under_load"]

    with common.services("health", args) as (tmp_dir, broker_url):
        report = {
            "benchmark": "health",
            "when": common.now_iso(),
            "smoke": args.smoke,
            "machine": common.machine_info(broker_url=broker_url),
            "health_clients": HEALTH_CLIENTS,
            "period_seconds": args.period,
            **run(args, tmp_dir=tmp_dir, broker_url=broker_url),
        }
    for variant, result in report["variants"].items():
        idle, loaded = result["idle"], result["under_health_load"]
        print(
            f"{variant:5}: GET /api/courses/ p50/p99 idle {idle['p50_ms']:.1f}/{idle['p99_ms']:.1f} ms, "
            f"with {HEALTH_CLIENTS} concurrent health calls {loaded['p50_ms']:.1f}/{loaded['p99_ms']:.1f} ms "
            f"(p99 x{common.fmt(result['p99_ratio'], '.2f')}); health: {result['health']['calls']} calls "
            f"({result['health']['per_second']}/s, slowest {result['health']['slowest_ms']} ms), "
            f"{result['health']['wrong_worker_count']} with a wrong worker count"
        )
    ours = report["variants"].get("ours")
    if ours and not args.smoke:
        verdict = "meets" if ours["p99_ratio"] is not None and ours["p99_ratio"] <= TARGET_P99_RATIO else "MISSES"
        print(f"summary: ours {verdict} the target (p99 under health load <= {TARGET_P99_RATIO}x idle)")
    common.write_results(args.output, report)
    return 0
