"""Run the differential fuzzer: ``python tests/fuzzkit/main.py --count N [--seconds T]
[--seed S] [--jobs J] [--shrink-seconds X] [--edition 1|2] [--check-only] [--other-sizes]``.

Each of J worker processes generates programs with ``strategies.programs()`` (its own seed
range) and runs them through ``harness.evaluate``. The first program of each new class of
disagreement is shrunk by hypothesis to a minimal program with the same class, which is
saved as ``tests/fixtures/fuzz/<sha1>.cnn`` with a ``# <disagreement>`` first line (every
fixture passes, since ``make test`` replays them, so each disagreement is new; one program
per class is shrunk, the rest are counted). The run stops after N programs
or T seconds (whichever comes first), plus the shrinking of the classes found.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ROOT = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
if str(ROOT) not in sys.path:  # last: a PYTHONPATH (another cnndsl checkout) wins
    sys.path.append(str(ROOT))

FIXTURES = TESTS / "fixtures" / "fuzz"
CHUNK = 50  # programs per hypothesis run (one seed each)


class Found(Exception):
    """Raised inside the hypothesis test to make it shrink a disagreement."""

    def __init__(self, source: str, problem: str):
        super().__init__(problem)
        self.source = source
        self.problem = problem


@dataclass
class Stats:
    run: int = 0
    valid: int = 0
    rejected: int = 0
    disagreements: int = 0
    other_params: int = 0  # valid programs whose networks were also built with other values
    busy: float = 0.0  # seconds spent generating and running programs (not shrinking)
    shrink_runs: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # class -> first description
    saved: dict[str, str] = field(default_factory=dict)  # class -> fixture path


def save_fixture(source: str, problem: str) -> Path:
    """Save ``source`` with a first line ``# problem`` (as the saved file reports it, so
    that positions count the comment line too)."""
    from fuzzkit.harness import classify, evaluate

    FIXTURES.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    path = FIXTURES / f"{digest}.cnn"
    body = source if source.endswith("\n") else source + "\n"
    _, again = evaluate(f"# {problem}\n{body}")
    if again is not None and classify(again) == classify(problem):
        problem = again
    path.write_text(f"# {problem}\n{body}", encoding="utf-8")
    return path


def worker(job: int, args: argparse.Namespace, claims: Any, lock: Any) -> Stats:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from fuzzkit import harness
    from fuzzkit.harness import check_only, classify, evaluate
    from fuzzkit.strategies import programs

    if args.check_only:
        evaluate = check_only  # noqa: F811 - the front end alone
    stats = Stats()
    count = args.count // args.jobs + (1 if job < args.count % args.jobs else 0)
    deadline = time.monotonic() + args.seconds if args.seconds else float("inf")
    state: dict[str, Any] = {}

    def claim(key: str) -> bool:
        with lock:
            if key in claims:
                return False
            claims[key] = f"(job {job})"
            return True

    def body(source: str) -> str | None:
        """The disagreement hypothesis must treat as a failure, if any."""
        if state["target"] is None:  # generating
            if stats.run >= count or time.monotonic() > deadline:
                return None
            t0 = time.monotonic()
            built = harness.OTHER_PARAMS_BUILT
            accepted, problem = evaluate(source)
            stats.other_params += harness.OTHER_PARAMS_BUILT > built
            stats.busy += time.monotonic() - t0
            stats.run += 1
            stats.valid += accepted
            stats.rejected += not accepted
            if problem is None:
                return None
            stats.disagreements += 1
            key = classify(problem)
            stats.classes[key] += 1
            stats.examples.setdefault(key, problem)
            if args.shrink_seconds > 0 and claim(key):
                state.update(target=key, since=time.monotonic(), best=(source, problem))
                state["failing"][source] = problem
                return problem
            return None
        # shrinking: fail only for the class being shrunk, within the time budget
        if source in state["failing"]:
            return state["failing"][source]
        if time.monotonic() - state["since"] > args.shrink_seconds:
            return None
        stats.shrink_runs += 1
        _, problem = evaluate(source)
        if problem is not None and classify(problem) == state["target"]:
            state["failing"][source] = problem
            if len(source) < len(state["best"][0]):
                state["best"] = (source, problem)
            return problem
        return None

    def keep(source: str, problem: str, how: str) -> None:
        """Save the shrunk program as a fixture and say where."""
        path = save_fixture(source, problem)
        stats.saved[state["target"]] = str(path.relative_to(ROOT))
        print(f"[job {job}] {problem}\n    -> {path.relative_to(ROOT)} ({how})", flush=True)

    evaluate("network W { input 1x4 ; conv 1 1 }")  # warm up: torch's import, caches
    chunk = 0
    while stats.run < count and time.monotonic() < deadline:
        state.update(target=None, failing={}, best=None, since=0.0)
        n = min(CHUNK, count - stats.run)

        @settings(
            max_examples=n,
            phases=[Phase.generate, Phase.shrink],
            database=None,
            deadline=None,
            derandomize=False,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
        )
        @seed(args.seed * 1_000_003 + job * 100_003 + chunk)
        @given(programs(edition=args.edition))
        def fuzz(source: str) -> None:
            problem = body(source)
            if problem is not None:  # one raise site: hypothesis tells failures by place
                raise Found(source, problem)

        chunk += 1
        before = stats.run
        shrink_before = stats.shrink_runs
        try:
            fuzz()
        except Found as exc:
            best = (exc.source, exc.problem)
            if len(state["best"][0]) < len(exc.source):
                best = state["best"]
            keep(*best, f"{stats.shrink_runs - shrink_before} shrink runs")
        except Exception as exc:  # noqa: BLE001 - hypothesis' own errors (Flaky, …)
            if state["best"] is not None:
                keep(*state["best"], f"after {type(exc).__name__}: {str(exc)[:300]}")
            else:
                print(f"[job {job}] hypothesis: {type(exc).__name__}: {exc}", flush=True)
        if stats.run == before:  # nothing ran (should not happen): do not spin
            break
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="programs to run (all jobs)")
    parser.add_argument("--seconds", type=float, default=0, help="stop generating after T s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--edition",
        type=int,
        choices=(1, 2),
        default=None,
        help="the language edition programs use (default: strategies.EDITION)",
    )
    parser.add_argument(
        "--other-sizes",
        action="store_true",
        help="also run each model at other input sizes against check --input (harness)",
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="run check alone: the valid fraction, and check's crashes as disagreements",
    )
    parser.add_argument(
        "--shrink-seconds",
        type=float,
        default=60,
        help="time to shrink one new class of disagreement (0: save nothing)",
    )
    args = parser.parse_args(argv)
    args.jobs = max(1, min(args.jobs, args.count or 1))
    if args.other_sizes:  # read by harness in every worker (spawned with this environment)
        import os

        os.environ["CNNDSL_FUZZ_SIZES"] = "1"
    if args.edition is None:
        from fuzzkit.strategies import EDITION

        args.edition = EDITION
    import cnndsl

    print(
        f"cnndsl from {Path(cnndsl.__file__).parent}; fixtures in {FIXTURES}; seed {args.seed}; "
        f"edition {args.edition}",
        flush=True,
    )
    start = time.monotonic()
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        # every fixture passes, so each disagreement found is new: shrink one of each class
        claims = manager.dict()
        lock = manager.Lock()
        if args.jobs == 1:
            results = [worker(0, args, claims, lock)]
        else:
            with ctx.Pool(args.jobs) as pool:
                results = pool.starmap(worker, [(j, args, claims, lock) for j in range(args.jobs)])
        known = dict(claims)
    wall = time.monotonic() - start
    total = Stats()
    for r in results:
        total.run += r.run
        total.valid += r.valid
        total.rejected += r.rejected
        total.disagreements += r.disagreements
        total.other_params += r.other_params
        total.busy += r.busy
        total.classes.update(r.classes)
        for k, v in r.examples.items():
            total.examples.setdefault(k, v)
        total.saved.update(r.saved)
    print()
    print(f"programs run:   {total.run}")
    if total.run:
        print(f"valid:          {total.valid} ({100 * total.valid / total.run:.0f}%)")
        print(f"rejected:       {total.rejected} ({100 * total.rejected / total.run:.0f}%)")
        print(f"other values:   {total.other_params} (networks also built with other parameters)")
    print(f"disagreements:  {total.disagreements} in {len(total.classes)} classes")
    print(f"wall time:      {wall:.1f} s")
    if wall:
        print(f"programs/s:     {total.run / wall:.1f} (wall, shrinking included)")
    if total.busy:
        print(
            f"programs/s/core:{total.run / total.busy:6.1f} (checking, compiling and running only)"
        )
    if total.classes:
        print("\nclasses (count, fixture, first description):")
        for key, n in total.classes.most_common():
            where = total.saved.get(key) or known.get(key, "")
            if where.startswith("(job"):
                where = "(not saved)"
            print(f"{n:5d}  {where or '(not saved)'}\n       {total.examples[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
