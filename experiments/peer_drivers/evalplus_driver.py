"""evalplus's checker over a file of programs; runs in the peers' throwaway environment (not eta's).

    python evalplus_driver.py IN.json OUT.json WORKERS

IN: {"problems": {task_id: {"reference", "entry_point", "inputs": [repr of each test's arguments]}},
"programs": [[task_id, solution], ...]}. Expected outputs and reference times come from evalplus's own
`trusted_exec` (as its `get_groundtruth`; not timed); each program is then checked by `untrusted_check` with
the arguments `evaluate` gives it for the base inputs (fast_check, default time limits), in a process pool of
WORKERS as `evaluate` runs it. OUT: the checking's seconds and, per program, whether it passed.
"""

import ast
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from evalplus.config import DEFAULT_GT_TIME_LIMIT_FACTOR, DEFAULT_MIN_TIME_LIMIT
from evalplus.eval import PASS, untrusted_check
from evalplus.gen.util import trusted_exec


def check(dataset, solution, problem, expected):
    stat, _ = untrusted_check(dataset, solution, problem["inputs"], problem["entry_point"],
                              expected=expected["base"], atol=0, ref_time=expected["base_time"],
                              fast_check=True, min_time_limit=DEFAULT_MIN_TIME_LIMIT,
                              gt_time_limit_factor=DEFAULT_GT_TIME_LIMIT_FACTOR)
    return stat == PASS


def main():
    src, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = json.load(open(src))
    problems, expected = {}, {}
    for task_id, p in data["problems"].items():
        problems[task_id] = {"entry_point": p["entry_point"], "inputs": [list(ast.literal_eval(a)) for a in p["inputs"]]}
        base, times = trusted_exec(p["reference"], problems[task_id]["inputs"], p["entry_point"], record_time=True)
        expected[task_id] = {"base": base, "base_time": times}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(check, "humaneval", solution, problems[tid], expected[tid]) for tid, solution in data["programs"]]
        passed = [f.result() for f in futures]
    seconds = time.perf_counter() - t0
    json.dump({"seconds": seconds, "passed": passed}, open(out, "w"))


if __name__ == "__main__":
    main()
