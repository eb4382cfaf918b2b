"""The consumer half of the raw Redis baseline of `python -m bench pipeline`: BRPOP messages one
at a time and decode them, nothing else, then write when each arrived to a JSON file.

    python -m bench._raw_consumer --url URL --queue Q --n N --output FILE

It blocks on `<queue>:go` first, so the producer can fill the queue before the clock starts
(like a paused Celery consumer), and times its own CPU from then on.
"""

import argparse
import json
import resource
import time

import redis


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    client = redis.Redis.from_url(args.url)
    client.set(f"{args.queue}:ready", 1)
    _, go = client.brpop([f"{args.queue}:go"], timeout=300)
    started, cpu_started = float(go), cpu_seconds()
    latencies = []
    for _ in range(args.n):
        _, raw = client.brpop([args.queue], timeout=300)
        message = json.loads(raw)
        latencies.append(time.time() - message["ts"])
    finished = time.time()
    result = {"started": started, "finished": finished, "cpu": cpu_seconds() - cpu_started, "latencies": latencies}
    with open(args.output, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
