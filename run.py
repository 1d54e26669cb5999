#!/usr/bin/env python
"""eta's single entry point: `python run.py method=dpo model=codellama7b`, composed by Hydra from conf/.

    python run.py                                   # the default: SmolLM2 on CPU, ETA-DPO, synthetic suite
    python run.py model=tiny dataset=humaneval dataset.limit=4 logger=none   # a smoke run in a minute
    python run.py -m method.beta=0.05,0.1 heuristic=eta,binary              # a sweep, one directory per job
    python run.py experiment=smoke                 # an experiment file from experiments/experiment/
    python run.py hydra.run.dir=outputs/runs/X      # start, or resume a killed run, in a known directory
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ETA_ROOT", str(ROOT))
# OpenMP threads that spin while waiting steal the cores they wait for when a CPU is shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # conf/config.yaml adds $ETA_ROOT/experiments to the search path

from eta.train.distributed import prepare_argv  # noqa: E402

# Launchers (deepspeed, torch.distributed) append --local_rank=N, which Hydra would reject.
sys.argv = prepare_argv(sys.argv)

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from eta.config import register  # noqa: E402

register()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from eta.choices import check_optional_choice
    from eta.errors import UserError
    from eta.pipeline import run
    from eta.pipeline.runlock import RunDirBusy

    try:
        check_optional_choice("experiment")  # `optional experiment` would swallow a misspelt name
        run(cfg)
    except RunDirBusy as e:  # another launcher runs this job: in a sweep, skip it and go on with the next
        sweep = _multirun()
        print(f"{'skipped' if sweep else 'error'}: {e}", file=sys.stderr, flush=True)
        if not sweep:
            sys.exit(2)
    except UserError as e:  # bad input: one line that names it, not a traceback
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def _multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


if __name__ == "__main__":
    main()
