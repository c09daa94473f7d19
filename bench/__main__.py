"""`make bench`: every benchmark in turn; each writes bench/results/<name>.json."""

import subprocess
import sys

BENCHMARKS = ["bench.bench_features", "bench.bench_training", "bench.bench_service", "bench.bench_stream",
              "bench.bench_live_accuracy", "bench.bench_rollout", "bench.bench_demo_start", "bench.bench_service_start", "bench.bench_loop"]

for module in BENCHMARKS:
    print(f"== {module}", flush=True)
    subprocess.run([sys.executable, "-m", module], check=True)
