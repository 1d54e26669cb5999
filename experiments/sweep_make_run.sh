#!/usr/bin/env bash
# The sweep behind make run's DPO defaults (docs/results.md, "make run's DPO defaults"): make run's job
# (SmolLM2, ETA-DPO, synthetic suite, seed 0) at one point per setting, each changed alone from the default
# of the time (4 samples per problem): epochs, pairs per problem (heuristic.max_pairs_per_problem), samples per
# problem (sampler.n).
# The learning rate was swept the same way before (docs/results.md). Every point shares the base samples, their
# executions and the base evaluation through shared_dir where its keys allow (sampler.n=8 samples anew), and
# the table is the comparison's own aggregation: pass@1 with paired intervals against the base, KL, and
# the held-out pair accuracy each DPO policy reaches.
# Settings are chosen on the validation families (dataset.eval_split=validation, disjoint from the training
# and test families: docs/datasets.md), never on the held-out test families make run reports; EVAL_SPLIT=test
# reproduces the sweeps of 2026-12-04, which were (wrongly) read on the test families.
#   bash experiments/sweep_make_run.sh [OUT_DIR] [POINT ...]     # default: outputs/sweep-make-run, every point
# A point already finished in OUT_DIR is not redone (each is a run directory that resumes).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-outputs/sweep-make-run}
shift || true
python=${PYTHON:-.venv/bin/python}
common=(logger=none eval.repair.enabled=false eval.cheat.enabled=false "dataset.eval_split=${EVAL_SPLIT:-validation}"
        "shared_dir=$out/shared")
# EVAL_LIMIT=42: 3 held-out problems from each of the 14 validation families (default: make run's 24)
[ -n "${EVAL_LIMIT:-}" ] && common+=("dataset.eval_limit=$EVAL_LIMIT")

# The points before 2026-12-07's RPO default were measured with the DPO loss alone: they say so, so that they
# still reproduce what docs/results.md reports.
alone="method.loss_type=[sigmoid] method.loss_weights=[1.0]"
declare -A points=(
  [base]="method=none"
  [e1-n4-cap8]="$alone sampler.n=4"                 # make run's old default: 1 epoch, 4 samples, <= 8 pairs a problem
  [e2-n4-cap8]="$alone sampler.n=4 method.num_train_epochs=2"
  [e1-n4-cap2]="$alone sampler.n=4 heuristic.max_pairs_per_problem=2"
  [e1-n8-cap8]="$alone sampler.n=8"                 # make run's default from this sweep to 2026-12-07 (5e-4)
  [lr2e-4]="$alone method.learning_rate=2e-4"
  [lr1e-4]="$alone method.learning_rate=1e-4"
  [lr5e-5]="$alone method.learning_rate=5e-5"
  [lr3e-4]="$alone method.learning_rate=3e-4"
  # RPO (Pang et al. 2024): DPO plus the chosen program's NLL, weight 1: conf/method/dpo.yaml's default since
  [rpo]="method.loss_type=[sigmoid,sft] method.loss_weights=[1.0,1.0]"
  [rpo-lr2e-4]="method.loss_type=[sigmoid,sft] method.loss_weights=[1.0,1.0] method.learning_rate=2e-4"
)
order=(base e1-n4-cap8 e2-n4-cap8 e1-n8-cap8 e1-n4-cap2)
[ $# -gt 0 ] && order=("$@")

for label in "${order[@]}"; do
  [ -v "points[$label]" ] || { echo "sweep_make_run: no point '$label' (points: ${!points[*]})" >&2; exit 2; }
  echo "== $label: ${points[$label]:-the defaults}"
  # shellcheck disable=SC2086  # a point's overrides are words
  "$python" run.py "${common[@]}" "label=$label" "hydra.run.dir=$out/$label" ${points[$label]}
done
"$python" -m eta.report.compare "$out"
