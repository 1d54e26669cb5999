"""Two runs of one sweep that share a seed's data (eta.pipeline.shared) do not make it at once: the first
to link the shared folder holds its lock while it makes the files, the other waits and then reads them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# One run's share of the work: link the shared stage, make its file slowly unless it is complete, let go.
WORKER = r"""
import json, sys, time
from pathlib import Path
from omegaconf import OmegaConf
from eta.context import RunContext
from eta.pipeline.fingerprint import StageSpec
from eta.pipeline.shared import link_shared, release_shared

shared, run_dir, log = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
run_dir.mkdir(parents=True)
ctx = RunContext(cfg=OmegaConf.create({"shared_dir": str(shared)}), run_dir=run_dir,
                 say=lambda m: print(m, flush=True))
spec = StageSpec("sample", {"model.name": "tiny", "seed": 0}, None, ("samples.jsonl",))
t0 = time.time()
link_shared(ctx, [spec])
got = time.time()
samples = run_dir / "samples.jsonl"
rows = samples.read_text().splitlines() if samples.exists() else []
made = len(rows) < 5
if made:  # what the sample stage does: append lines, one at a time
    for i in range(5):
        with samples.open("a") as f:
            f.write(json.dumps({"i": i, "by": run_dir.name}) + "\n")
        time.sleep(0.3)
done = time.time()
release_shared()
log.write_text(json.dumps({"asked": t0, "got": got, "done": done, "made": made}))
"""


def test_two_runs_sharing_a_seed_make_its_data_once_and_one_after_the_other(tmp_path):
    shared = tmp_path / "shared"
    procs = []
    for name in ("a", "b"):
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(shared), str(tmp_path / name),
                                       str(tmp_path / f"{name}.json")], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
        time.sleep(0.1)  # a starts first; b asks while a holds the lock (a takes ~1.5 s to write)
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("a", "b"))
    first, second = (a, b) if a["got"] <= b["got"] else (b, a)
    assert first["made"] and not second["made"]  # made once
    assert second["got"] >= first["done"]  # the second waited until the first had finished writing
    assert any("waiting for another run making the shared data" in o[0] for o in outs)
    homes = list(shared.iterdir())
    assert len(homes) == 1
    rows = [json.loads(line) for line in (homes[0] / "samples.jsonl").read_text().splitlines()]
    assert [r["i"] for r in rows] == list(range(5)) and len({r["by"] for r in rows}) == 1
    # both runs read the one file
    assert (tmp_path / "a" / "samples.jsonl").resolve() == (tmp_path / "b" / "samples.jsonl").resolve()


def test_the_lock_is_let_go_when_released_and_taken_again_by_the_next_run(tmp_path):
    from omegaconf import OmegaConf

    from eta.context import RunContext
    from eta.pipeline.fingerprint import StageSpec
    from eta.pipeline import shared as sh

    spec = StageSpec("sample", {"seed": 0}, None, ("samples.jsonl",))
    for name in ("x", "y"):  # one process, two runs one after another (Hydra's launcher): no self-deadlock
        run_dir = tmp_path / name
        run_dir.mkdir()
        ctx = RunContext(cfg=OmegaConf.create({"shared_dir": str(tmp_path / "shared")}), run_dir=run_dir)
        sh.link_shared(ctx, [spec])
        assert len(sh._held) == 1
    sh.release_shared()
    assert sh._held == []
    import fcntl

    (home,) = (tmp_path / "shared").iterdir()
    with open(home / sh.LOCK_FILE) as f:  # free: another process could take it without waiting
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
