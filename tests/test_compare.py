"""The comparison of a sweep: the bootstrap estimators against independent computations (a naive loop with the
same draws, the binomial distribution), the aggregation of hand-made jobs, its files and W&B run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import find, naive_interval, naive_percentile, naive_replicates, read_csv

from eta.report import bootstrap
from eta.report.compare import compare, main

# ---------------------------------------------------------------- the estimators


def random_groups(rng, sizes, series=2):
    groups = []
    for p in sizes:
        den = rng.integers(1, 5, (p, series)).astype(float)
        num = np.minimum(rng.integers(0, 5, (p, series)), den)
        groups.append((num, den))
    return groups


def test_replicates_match_a_naive_loop_with_the_same_draws():
    groups = random_groups(np.random.default_rng(7), [5, 8, 3])
    fast = bootstrap.replicates(groups, n_boot=300, seed=11)
    slow = naive_replicates([(n.tolist(), d.tolist()) for n, d in groups], 300, 11)
    np.testing.assert_allclose(fast, np.array(slow), rtol=0, atol=1e-12)


def test_paired_difference_matches_the_naive_loop_and_closed_form_mean():
    groups = random_groups(np.random.default_rng(3), [6, 6])
    a = [(n[:, 0], d[:, 0]) for n, d in groups]
    b = [(n[:, 1], d[:, 1]) for n, d in groups]
    est = bootstrap.paired_difference(a, b, n_boot=400, seed=5)
    # the mean: per seed sum/sum of each series, averaged over seeds, differenced
    per_seed = [n[:, 0].sum() / d[:, 0].sum() - n[:, 1].sum() / d[:, 1].sum() for n, d in groups]
    assert est.mean == pytest.approx(sum(per_seed) / 2, abs=1e-12)
    slow = naive_replicates([(n.tolist(), d.tolist()) for n, d in groups], 400, 5)
    diffs = [r[0] - r[1] for r in slow]
    assert (est.low, est.high) == pytest.approx(naive_interval(diffs, est.mean, 6))  # rows: 6 problems, own family
    assert est.n_seeds == 2 and est.n_problems == 12 and est.n_families == 6


def binomial_quantile(n, p, q):
    """The smallest k/n with P(X <= k) >= q for X ~ Binomial(n, p)."""
    total = 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * p ** k * (1 - p) ** (n - k)
        if total >= q:
            return k / n
    return 1.0


def test_one_seed_interval_is_the_binomial_one():
    # 0/1 per problem and one seed: a replicate's mean is Binomial(20, 8/20) / 20
    passes = np.array([1.0] * 8 + [0.0] * 12)
    est = bootstrap.estimate([(passes, np.ones(20))], n_boot=20000, seed=0)
    assert est.mean == pytest.approx(0.4)
    step = 1 / 20  # the replicates live on a grid of 1/20: the empirical percentile may sit one step off
    assert abs(est.low - binomial_quantile(20, 0.4, 0.025)) <= step + 1e-9
    assert abs(est.high - binomial_quantile(20, 0.4, 0.975)) <= step + 1e-9
    assert est.low < 0.4 < est.high and not est.spans_zero


def test_identical_series_differ_by_exactly_zero_and_constant_ones_have_no_width():
    groups = random_groups(np.random.default_rng(1), [4, 7], series=1)
    same = [(n[:, 0], d[:, 0]) for n, d in groups]
    d = bootstrap.paired_difference(same, same, n_boot=200)
    assert (d.mean, d.low, d.high) == (0.0, 0.0, 0.0) and d.spans_zero
    e = bootstrap.estimate([(np.ones(5), np.ones(5))], n_boot=100)
    assert (e.mean, e.low, e.high) == (1.0, 1.0, 1.0)


def test_seed_only_estimates():
    e = bootstrap.seed_estimate([0.5, 0.7, 0.9], n_boot=500, seed=2)
    assert e.mean == pytest.approx(0.7) and 0.5 <= e.low <= e.high <= 0.9
    slow = naive_replicates([([[v]], [[1.0]]) for v in (0.5, 0.7, 0.9)], 500, 2)
    assert e.low == pytest.approx(naive_percentile([r[0] for r in slow], 2.5))  # one problem: nothing widened


def test_bad_shapes_fail_with_a_message():
    with pytest.raises(ValueError, match="at least one problem"):
        bootstrap.replicates([(np.zeros((0, 1)), np.zeros((0, 1)))])
    with pytest.raises(ValueError, match="seeds"):
        bootstrap.paired_difference([(np.ones(2), np.ones(2))], [])


# ---------------------------------------------------------------- a hand-made sweep

TASKS = [f"t{i}" for i in range(6)]
N = 4  # samples per problem


def records(passes: dict[str, int], errors: str = "wrong_answer") -> list[dict]:
    """N records per task, the first passes[t] of them passing, the rest failing with `errors`."""
    out = []
    for t in TASKS:
        for i in range(N):
            ok = i < passes[t]
            out.append({"task_id": t, "sample_id": i, "completion": "x", "passed": ok,
                        "outcome": "passed" if ok else errors, "tests_passed": 2 if ok else 1, "tests_total": 2,
                        "error_type": None if ok or errors == "wrong_answer" else "ValueError", "steps": 3})
    return out


def write_job(sweep: Path, name: str, label: str, seed: int, method: str, sampled: list[dict], greedy: list[dict],
              base: tuple[list[dict], list[dict]] | None = None, method_metrics: dict | None = None,
              logger: dict | None = None) -> Path:
    from eta.metrics import summarize

    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    cfg = {"label": label, "seed": seed, "method": {"name": method}, "heuristic": {"name": "eta"},
           "logger": logger or {"name": "none"}}
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    metrics = {}
    policies = {"base": (sampled, greedy)} if method == "none" else {"trained": (sampled, greedy)}
    if base is not None:
        policies["base"] = base
    for policy, (s, g) in policies.items():
        d = job / "eval" / policy
        d.mkdir(parents=True)
        (d / "sampled_executions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in s))
        (d / "greedy_executions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in g))
        metrics[policy] = {**summarize(s, ks=[1, 2]), "greedy_pass@1": summarize(g, ks=[1])["pass@1"]}
    if method_metrics:
        metrics["method"] = method_metrics
    (job / "metrics.json").write_text(json.dumps(metrics))
    return job


def greedy_of(passes: dict[str, int]) -> list[dict]:
    return [{"task_id": t, "sample_id": 0, "completion": "x", "passed": passes[t] >= 2,
             "outcome": "passed" if passes[t] >= 2 else "wrong_answer", "tests_passed": 1, "tests_total": 2}
            for t in TASKS]


BASE_PASSES = {0: dict(t0=0, t1=1, t2=2, t3=0, t4=1, t5=0), 1: dict(t0=1, t1=0, t2=2, t3=1, t4=0, t5=0)}
ETA_PASSES = {0: dict(t0=4, t1=4, t2=4, t3=4, t4=4, t5=4), 1: dict(t0=4, t1=4, t2=4, t3=4, t4=4, t5=4)}
BIN_PASSES = {0: dict(t0=1, t1=1, t2=2, t3=0, t4=1, t5=1), 1: dict(t0=1, t1=0, t2=2, t3=1, t4=1, t5=0)}


@pytest.fixture
def sweep(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        base = (records(BASE_PASSES[seed], "runtime_error"), greedy_of(BASE_PASSES[seed]))
        write_job(sweep, f"base-seed{seed}", "base", seed, "none", *base)
        write_job(sweep, f"eta-seed{seed}", "ETA-DPO", seed, "dpo", records(ETA_PASSES[seed]),
                  greedy_of(ETA_PASSES[seed]), base=base,
                  method_metrics={"heldout_pairs": {"accuracy": 0.6 + 0.1 * seed, "margin": 0.2}})
        write_job(sweep, f"bin-seed{seed}", "DPO-binary", seed, "dpo", records(BIN_PASSES[seed]),
                  greedy_of(BIN_PASSES[seed]), base=base,
                  method_metrics={"heldout_pairs": {"accuracy": 0.5, "margin": 0.0}})
    (sweep / "unfinished" / ".hydra").mkdir(parents=True)
    (sweep / "unfinished" / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"label": "SFT", "seed": 0}))
    return sweep






def test_compare_tables_means_and_intervals_match_independent_computations(sweep):
    compare(sweep, wandb=False, n_boot=500)
    rows = read_csv(sweep / "comparison.csv")
    # pass@1: per problem c/N, mean over problems, mean over seeds (closed form)
    base_p1 = np.mean([np.mean([c / N for c in BASE_PASSES[s].values()]) for s in (0, 1)])
    bin_p1 = np.mean([np.mean([c / N for c in BIN_PASSES[s].values()]) for s in (0, 1)])
    assert find(rows, "pass@1", "base")["mean"] == pytest.approx(base_p1)
    assert find(rows, "pass@1", "ETA-DPO")["mean"] == pytest.approx(1.0)
    # the interval of DPO-binary's pass@1, rebuilt by the naive loop with the same seed and replicates
    # problems t0..t5 are each their own family (no <dataset>/<family>/<n> id); the same problems every seed
    groups = [([[BIN_PASSES[s][t] / N] for t in TASKS], [[1.0]] * len(TASKS)) for s in (0, 1)]
    slow = [r[0] for r in naive_replicates(groups, 500, 0, [TASKS, TASKS])]
    got = find(rows, "pass@1", "DPO-binary")
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(naive_interval(slow, bin_p1, len(TASKS)))
    assert got["families"] == str(len(TASKS))
    # paired difference vs its binary counterpart, same draws for both series
    pairs = [([[1.0, BIN_PASSES[s][t] / N] for t in TASKS], [[1.0, 1.0]] * len(TASKS)) for s in (0, 1)]
    diffs = [a - b for a, b in naive_replicates(pairs, 500, 0, [TASKS, TASKS])]
    d = find(rows, "pass@1", "ETA-DPO", "DPO-binary")
    assert d["mean"] == pytest.approx(1.0 - bin_p1)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx(naive_interval(diffs, 1.0 - bin_p1, len(TASKS)))
    assert d["spans_zero"] == "False"
    assert find(rows, "pass@1", "DPO-binary", "base")["mean"] == pytest.approx(bin_p1 - base_p1)
    # sample-level rates: the same numbers as summarize() wrote in metrics.json
    for label, job in (("base", "base-seed0"), ("DPO-binary", "bin-seed0")):
        policy = "base" if label == "base" else "trained"
        m = [json.loads((sweep / job.replace("seed0", f"seed{s}") / "metrics.json").read_text())[policy] for s in (0, 1)]
        assert find(rows, "execution_rate", label)["mean"] == pytest.approx(np.mean([x["execution_rate"] for x in m]))
        assert find(rows, "greedy_pass@1", label)["mean"] == pytest.approx(np.mean([x["greedy_pass@1"] for x in m]))
        assert find(rows, "pass@2", label)["mean"] == pytest.approx(np.mean([x["pass@2"] for x in m]))
    assert find(rows, "outcome/runtime_error", "base")["mean"] == pytest.approx(1 - base_p1)
    # the held-out shaped reward: passing samples +1, the base's failures runtime errors (-0.6)
    shaped = np.mean([(sum(BASE_PASSES[s].values()) * 1.0 + (N * len(TASKS) - sum(BASE_PASSES[s].values())) * -0.6)
                      / (N * len(TASKS)) for s in (0, 1)])
    assert find(rows, "reward/shaped", "base")["mean"] == pytest.approx(shaped)
    # a method's own metric, once per seed: bootstrap over seeds
    acc = find(rows, "method/heldout_pairs/accuracy", "ETA-DPO")
    assert acc["mean"] == pytest.approx(0.65) and 0.6 - 1e-9 <= acc["ci_low"] <= acc["ci_high"] <= 0.7 + 1e-9
    assert find(rows, "method/heldout_pairs/accuracy", "ETA-DPO", "DPO-binary")["mean"] == pytest.approx(0.15)


def test_compare_writes_markdown_notes_and_plots(sweep):
    compare(sweep, wandb=False, n_boot=200)
    text = (sweep / "comparison.md").read_text()
    assert "## pass@1 (seeds x problems)" in text and "| ETA-DPO | 2 | 12 |" in text
    assert "vs base" in text and "vs DPO-binary" in text
    row = next(line for line in text.splitlines() if line.startswith("| DPO-binary") and "pp" in line)
    assert "(spans 0)" in row  # DPO-binary barely differs from the base
    eta_row = next(line for line in text.splitlines() if line.startswith("| ETA-DPO") and "pp" in line)
    assert "(spans 0)" not in eta_row  # every problem solved against a base that solves few
    assert "1 job(s) without metrics.json left out: unfinished" in text
    plots = sweep / "plots"
    assert (plots / "pass_at_1.png").stat().st_size > 1000 and (plots / "outcomes_by_method.png").is_file()
    assert not (plots / "rounds_by_method.png").exists()  # one round


def test_compare_writes_the_primary_analysis_with_holm_and_power(sweep):
    two = {"primary": {"endpoint": "pass@1", "contrasts": {"ETA-DPO": "DPO-binary", "DPO-binary": "base"}}}
    for config in sweep.glob("*/.hydra/config.yaml"):
        config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "compare": two}))
    compare(sweep, wandb=False, n_boot=400)
    text = (sweep / "comparison.md").read_text()
    assert "## Primary analysis: pass@1, 2 contrast(s), Holm-adjusted" in text
    assert "| ETA-DPO vs DPO-binary | 2 | 12 | 6 |" in text and "| DPO-binary vs base | 2 | 12 | 6 |" in text
    assert text.index("## Primary analysis") < text.index("## Exploratory") < text.index("## pass@1 (")
    rows = read_csv(sweep / "comparison.csv")
    primary = {(r["method"], r["against"]): r for r in rows if r["analysis"] == "primary"}
    assert set(primary) == {("ETA-DPO", "DPO-binary"), ("DPO-binary", "base")}
    assert all(r["analysis"] == "exploratory" for r in rows if (r["method"], r["against"]) not in primary
               or r["metric"] != "pass@1")
    first = primary[("ETA-DPO", "DPO-binary")]  # every problem solved against few: the smaller p, Holm's 1/2 step
    assert float(first["holm_level"]) == pytest.approx(0.975)
    assert float(first["holm_low"]) <= float(first["ci_low"]) and float(first["holm_high"]) >= float(first["ci_high"])
    assert float(first["p_holm"]) < 0.05 and float(first["detectable_80"]) > 0
    second = primary[("DPO-binary", "base")]
    assert float(second["holm_level"]) == pytest.approx(0.95) and float(second["p_holm"]) >= float(first["p_holm"])




def test_a_declared_contrast_without_data_still_counts_in_holms_m(sweep):
    # the CPU files split the three primary contrasts between them: each run's levels must stay those of
    # Holm over all three, not over the ones it happens to have
    three = {"primary": {"endpoint": "pass@1", "contrasts": {"ETA-DPO": "DPO-binary", "GRPO-divergence":
                                                             "GRPO-pass_rate", "ETA-RM": "RM-no-trace"}}}
    for config in sweep.glob("*/.hydra/config.yaml"):
        config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "compare": three}))
    compare(sweep, wandb=False, n_boot=400)
    text = (sweep / "comparison.md").read_text()
    assert "## Primary analysis: pass@1, 3 contrast(s), Holm-adjusted" in text
    assert "this run has data for 1: the others count in m as not rejected" in text
    only = next(r for r in read_csv(sweep / "comparison.csv") if r["analysis"] == "primary")
    assert (only["method"], only["against"]) == ("ETA-DPO", "DPO-binary")
    assert float(only["holm_level"]) == pytest.approx(1 - 0.05 / 3)
def test_an_arm_with_several_counterparts_gets_a_difference_against_each_and_the_tokens_it_trained_on(sweep):
    for seed in (0, 1):
        base = (records(BASE_PASSES[seed], "runtime_error"), greedy_of(BASE_PASSES[seed]))
        write_job(sweep, f"verdict-seed{seed}", "DPO-verdict", seed, "dpo", records(BASE_PASSES[seed]),
                  greedy_of(BASE_PASSES[seed]), base=base)
        state = {"log_history": [{"loss": 0.7, "num_tokens": 100}, {"loss": 0.6, "num_tokens": 250 + seed}]}
        (sweep / f"eta-seed{seed}" / "train").mkdir()
        (sweep / f"eta-seed{seed}" / "train" / "trainer_state.json").write_text(json.dumps(state))
    settings = {"counterparts": {"ETA-DPO": ["DPO-verdict", "DPO-binary"], "DPO-verdict": "DPO-binary"}}
    for config in sweep.glob("*/.hydra/config.yaml"):
        config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "compare": settings}))
    compare(sweep, wandb=False, n_boot=200)
    rows = read_csv(sweep / "comparison.csv")
    base_p1 = np.mean([np.mean([c / N for c in BASE_PASSES[s].values()]) for s in (0, 1)])
    bin_p1 = np.mean([np.mean([c / N for c in BIN_PASSES[s].values()]) for s in (0, 1)])
    assert find(rows, "pass@1", "ETA-DPO", "DPO-verdict")["mean"] == pytest.approx(1.0 - base_p1)
    assert find(rows, "pass@1", "ETA-DPO", "DPO-binary")["mean"] == pytest.approx(1.0 - bin_p1)
    assert find(rows, "pass@1", "DPO-verdict", "DPO-binary")["mean"] == pytest.approx(base_p1 - bin_p1)
    assert find(rows, "train/num_tokens", "ETA-DPO")["mean"] == pytest.approx(250.5)  # the last logged, per seed
    assert not any(r["metric"] == "train/num_tokens" and r["method"] == "DPO-binary" for r in rows)  # none logged
    text = (sweep / "comparison.md").read_text()
    header = next(line for line in text[text.index("## pass@1 ("):].splitlines() if line.startswith("| method"))
    assert "vs DPO-verdict" in header and "vs DPO-binary" in header


def test_compare_cli_and_bad_folder(sweep, tmp_path, capsys):
    assert main([str(sweep), "--no-wandb", "--n-boot", "50"]) == 0
    assert (sweep / "comparison.csv").is_file()
    assert main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: compare: no sweep folder") and "\n" not in err


def test_compare_logs_a_wandb_run_in_the_jobs_group(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    sweep = tmp_path / "sweep"
    logger = {"name": "wandb", "project": "eta", "mode": "offline", "group": "cmp-test", "tags": []}
    p = dict(t0=1, t1=2, t2=0, t3=4, t4=1, t5=0)
    write_job(sweep, "base", "base", 0, "none", records(p), greedy_of(p), logger=logger)
    compare(sweep, n_boot=50)
    runs = list((sweep / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))


@pytest.mark.slow  # run.py in a new process
def test_misspelt_experiment_fails_with_one_line_listing_the_experiments(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "run.py", "experiment=nosuch", "logger=none",
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert lines == [lines[0]] and "experiment=nosuch" in lines[0]
    assert "comparison" in lines[0] and "smoke" in lines[0]
    assert not (tmp_path / "run" / "samples.jsonl").exists()


def test_the_comparison_run_gets_the_jobs_resolved_wandb_group(tmp_path, monkeypatch):
    """The experiment's group is ``comparison-${model.name}-${dataset.name}``, as the saved job config holds it."""
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    sweep = tmp_path / "sweep"
    p = dict(t0=1, t1=2, t2=0, t3=4, t4=1, t5=0)
    job = write_job(sweep, "base", "base", 0, "none", records(p), greedy_of(p))
    cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
    cfg.update(model={"name": "tiny"}, dataset={"name": "humaneval"},
               logger={"name": "wandb", "project": "eta", "mode": "offline", "tags": [],
                       "group": "comparison-${model.name}-${dataset.name}"},
               paths={"output_dir": "${hydra:runtime.cwd}/outputs"})  # unresolvable outside the job: left as is
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    seen = {}
    real_init = wandb.init

    def init(**kwargs):
        seen.update(kwargs)
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", init)
    compare(sweep, n_boot=20)
    assert seen["group"] == "comparison-tiny-humaneval"


def test_plan_reads_the_pilot_variances_and_more_samples_or_problems_detect_smaller_differences(sweep, capsys):
    from eta.report.plan import main as plan

    two = {"primary": {"endpoint": "pass@1", "contrasts": {"ETA-DPO": "DPO-binary", "DPO-binary": "base"}}}
    for config in sweep.glob("*/.hydra/config.yaml"):
        config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "compare": two}))
    assert plan([str(sweep), "--families", "6", "--per-family", "2", "8", "--seeds", "2", "--samples", "4", "16"]) == 0
    out = capsys.readouterr().out
    assert "| ETA-DPO vs DPO-binary | 2 x 6 (6), 4.0 |" in out
    rows = {line.split(" | ")[0].strip("| "): [float(c.strip("* |")) for c in line.split(" | ")[2:]]
            for line in out.splitlines() if line.startswith("| 6 x ")}
    assert set(rows) == {"6 x 2, 2, 4", "6 x 2, 2, 16", "6 x 8, 2, 4", "6 x 8, 2, 16"}
    for contrast in range(2):
        assert rows["6 x 2, 2, 16"][contrast] <= rows["6 x 2, 2, 4"][contrast]
        assert rows["6 x 8, 2, 4"][contrast] < rows["6 x 2, 2, 4"][contrast]
    assert plan([str(sweep / "nowhere")]) == 2


def _plan_rows(out: str) -> dict[str, float]:
    return {line.split(" | ")[0].strip("| "): float(line.split(" | ")[2].strip("* |"))
            for line in out.splitlines() if line.startswith("| 6 x ")}


def test_plan_takes_a_seed_sd_from_elsewhere_for_a_one_seed_pilot(sweep, capsys):
    import shutil

    from eta.report.plan import main as plan

    for job in sweep.glob("*-seed1"):
        shutil.rmtree(job)  # a pilot with one seed: its seed variance is unmeasured (0)
    grid = ["--families", "6", "--per-family", "8", "--seeds", "1", "4", "--samples", "8"]
    assert plan([str(sweep), *grid]) == 0
    without = _plan_rows(capsys.readouterr().out)
    assert plan([str(sweep), *grid, "--seed-sd", "10"]) == 0
    out = capsys.readouterr().out
    given = _plan_rows(out)
    assert "/ 10.0 /" in out and "Seed SD 10 pp (--seed-sd)" in out
    # one seed pays the whole seed variance; four seeds a quarter of it
    assert given["6 x 8, 1, 8"] > without["6 x 8, 1, 8"]
    assert without["6 x 8, 4, 8"] <= given["6 x 8, 4, 8"] < given["6 x 8, 1, 8"]
    assert plan([str(sweep), "--seed-sd", "-1"]) == 2
    assert "--seed-sd is a standard deviation in pp, got -1" in capsys.readouterr().err
