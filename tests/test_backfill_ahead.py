"""backfill._Ahead: how far the reads run ahead of a caller that does not take."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from usagecore.backfill import _Ahead


class Sized:
    def __init__(self, nbytes: int):
        self.nbytes = nbytes


def _run_ahead(step_bytes: int, budget: int, expected: int, steps: int = 6) -> tuple[int, list[dict]]:
    """How many steps ran before anything was taken (waiting until `expected`
    have, then a while longer for any beyond); then every result, in order."""
    started = []
    lock = threading.Lock()

    def step(number: int) -> dict:
        with lock:
            started.append(number)
        return {"raws": Sized(step_bytes), "number": number}

    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead = _Ahead(pool, [lambda n=n: step(n) for n in range(steps)], depth=2, budget=budget)
        deadline = time.monotonic() + 30
        while len(started) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # a step that should not run would have started by now
        with lock:
            ran = len(started)
        results = [ahead.take() for _ in range(steps)]
    return ran, results


def test_small_results_are_read_to_the_end_while_the_caller_is_busy():
    ran, results = _run_ahead(step_bytes=1_000, budget=1_000_000, expected=6)
    assert ran == 6
    assert [r["number"] for r in results] == list(range(6))


def test_large_results_wait_after_depth():
    ran, results = _run_ahead(step_bytes=1_000_000, budget=1_000_000, expected=2)
    assert ran == 2
    assert [r["number"] for r in results] == list(range(6))


def test_the_budget_counts_what_waits():
    # 3 results of 400 kB reach the budget of 1 MB, the 2 results of `depth` do not.
    ran, _ = _run_ahead(step_bytes=400_000, budget=1_000_000, expected=3)
    assert ran == 3
