#!/usr/bin/env python
"""The Python stack from run.py to a TRL trainer's train(), as docs/layers.md counts it: runs run.py in this
process with the given overrides, stops the run when a trainer's ``train()`` is entered (every TRL trainer
inherits ``transformers.Trainer.train``), and prints the frames from run.py's ``main`` to it.

    python experiments/trainer_frames.py experiment=smoke method=dpo eval.base=false \
        eval.repair.enabled=false eval.cheat.enabled=false hydra.run.dir=/tmp/frames_dpo
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Stop(BaseException):  # not an Exception: nothing on the way catches it
    pass


def main(overrides: list[str]) -> int:
    import transformers

    seen: list[traceback.FrameSummary] = []

    def train(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - stands in for Trainer.train
        seen.extend(traceback.extract_stack()[:-1])
        seen.append(traceback.FrameSummary(f"{type(self).__module__}.py", 0, f"{type(self).__name__}.train"))
        raise Stop

    transformers.Trainer.train = train
    sys.argv = [str(ROOT / "run.py"), *overrides]
    try:
        runpy.run_path(str(ROOT / "run.py"), run_name="__main__")
    except Stop:
        pass
    if not seen:
        print("no trainer's train() was entered", file=sys.stderr)
        return 1
    top = next(i for i, f in enumerate(seen) if Path(f.filename) == ROOT / "run.py")  # run.py's module frame
    start = next(i for i, f in enumerate(seen) if f.name == "main" and Path(f.filename) == ROOT / "run.py")
    for n, frame in enumerate(seen[start:], 1):
        where = os.path.relpath(frame.filename, ROOT) if frame.filename.startswith(str(ROOT)) else frame.filename
        print(f"{n:3d}  {where}:{frame.lineno}  {frame.name}")
    print(f"{len(seen) - start} frames from run.py's main to train(); {len(seen) - top} from the top of run.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
