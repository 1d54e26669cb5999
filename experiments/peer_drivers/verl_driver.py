"""verl's local code scorer over a file of programs; runs in the peers' throwaway environment (not eta's).

    python verl_driver.py IN.json OUT.json WORKERS

IN: {"programs": [[completion, tests], ...]} with tests in verl's call-based format. Each program is scored
by `prime_code.compute_score(completion, tests, continuous=True)`, as verl's `default_compute_score` does
without SandboxFusion, in a process pool of WORKERS as verl's `prime` reward manager runs it. OUT: the
scoring's seconds and, per program, whether its score is 1.0.
"""

import json
import os
import sys
import time
import types
from concurrent.futures import ProcessPoolExecutor


def load_prime_code():
    # verl/__init__.py imports torch, ray and the rest: register the parent packages as bare namespaces so
    # that only the scorer's own modules load (it needs numpy and the standard library).
    root = next(p for p in sys.path if p and os.path.isdir(os.path.join(p, "verl", "utils", "reward_score")))
    for name in ("verl", "verl.utils", "verl.utils.reward_score"):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = module
    from verl.utils.reward_score import prime_code

    return prime_code


prime_code = load_prime_code()


def score(item):
    completion, tests = item
    result = prime_code.compute_score(completion, tests, continuous=True)
    return float(result[0]) if isinstance(result, tuple) else float(result)  # as verl's prime manager reads it


def main():
    src, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    programs = json.load(open(src))["programs"]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        scores = list(pool.map(score, programs))
    seconds = time.perf_counter() - t0
    json.dump({"seconds": seconds, "passed": [s == 1.0 for s in scores], "scores": scores}, open(out, "w"))


if __name__ == "__main__":
    main()
