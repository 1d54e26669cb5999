"""Writing the comparison: ``comparison.md`` (the tables), ``comparison.csv`` (one row per estimate), the
plots (each metric by method with its interval, outcome frequencies stacked by method, the metrics by round)
and a W&B run in the jobs' group; the last of the comparison's three steps, from the rows of
``eta.report.estimates``."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eta.report.bootstrap import Estimate
from eta.report.estimates import ALPHA, ENDPOINT, POWER, TARGET, Primary, Row, ordered
from eta.report.jobs import Evaluations
from eta.report.transitions import Transition


def _is_fraction(metric: str) -> bool:
    return metric.startswith(("pass@", "greedy_pass@", "outcome/", "repair ")) or metric in ("execution_rate",
                                                                                    "mean_tests_passed_fraction")


def _fmt(metric: str, e: Estimate, diff: bool) -> str:
    if _is_fraction(metric):
        unit, scale, sign = (" pp", 100, "+") if diff else ("%", 100, "")
        text = f"{e.mean * scale:{sign}.1f}{unit} [{e.low * scale:{sign}.1f}, {e.high * scale:{sign}.1f}]"
    else:
        sign = "+" if diff else ""
        text = f"{e.mean:{sign}.4g} [{e.low:{sign}.4g}, {e.high:{sign}.4g}]"
    if diff and e.spans_zero:
        text += " (spans 0)"
    return text


def _pp(x: float) -> str:
    return f"{x * 100:+.1f}"


def primary_markdown(primary: Sequence[Primary], endpoint: str) -> list[str]:
    """The primary analysis: each declared contrast with its Holm-adjusted interval, and the smallest
    difference the design detects at 80% power, from the contrast's measured variance components."""
    if not primary:
        return []
    m = primary[0].m
    absent = (f" The experiment declares {m}; this run has data for {len(primary)}: the others count in m as "
              f"not rejected, so these levels are at least as strict as Holm's over all {m}." if m > len(primary)
              else "")
    out = ["", f"## Primary analysis: {endpoint}, {m} contrast(s), Holm-adjusted", "",
           f"Each trace arm against its no-trace counterpart (the experiment's `compare.primary`). The interval of "
           f"the contrast with the k-th smallest p-value is at level 1 - {ALPHA}/(m - k + 1) (Holm's step; "
           f"m = {m}); \"significant\": its Holm-adjusted p-value is below {ALPHA}. \"detectable\": the smallest "
           f"true difference this design would find with {POWER:.0%} probability at Holm's strictest level "
           f"({ALPHA}/{m}), from the contrast's variance components (per-problem differences: between families, "
           f"problems within a family, seeds, the rest, and of the rest the binomial noise of a pass rate from "
           f"the samples drawn; eta/report/power.py).{absent}", "",
           "| contrast | seeds | problems | families | difference [Holm CI] | level | p (Holm) | detectable at "
           f"{POWER:.0%} power | families for {TARGET * 100:.0f} pp | SD family / problem / seed / rest / sampling (pp) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in primary:
        e = p.est
        verdict = "significant" if p.p_holm < ALPHA else "not significant"
        sds = ("n/a" if p.components is None else " / ".join(
            f"{math.sqrt(v) * 100:.1f}" for v in (p.components.family, p.components.problem, p.components.seed,
                                                  p.components.residual, p.components.sampling)))
        detect = "n/a" if p.detectable is None else f"{p.detectable * 100:.1f} pp"
        need = "n/a" if p.design is None else (f"{p.families_for_target}" if p.families_for_target else "> 10000")
        out.append(f"| {p.method} vs {p.against} | {e.n_seeds} | {e.n_problems} | {e.n_families} | "
                   f"{_pp(e.mean)} pp [{_pp(e.low)}, {_pp(e.high)}] | {e.level:.4g} | {p.p_holm:.3g} ({verdict}) | "
                   f"{detect} | {need} | {sds} |")
    if any(p.design is not None and p.design.n_seeds == 1 for p in primary):
        out += ["", "One seed: the seed-to-seed variance is not measured (counted as 0), so the detectable "
                "difference is a lower bound."]
    return out


def transitions_markdown(rows: Sequence[Transition]) -> list[str]:
    """Per arm, each base class's share fixed (or, of the problems the base solved, broken), and the
    difference against the arm's counterpart: does a trace arm fix other errors than its binary one?"""
    if not rows:
        return []
    out = ["", "## Which errors each arm fixes (paired transitions, pooled over seeds)", "",
           "Each held-out problem of a seed is put in the base policy's class on it (solved, else the most common "
           "class of its failing samples: eta/report/analysis.py's categories, a wrong value split by its change "
           "against the reference, eta/report/mistakes.py). \"fixed\": the share of a class's (seed, problem) rows "
           "the arm solves (the rest still fail); for \"solved by base\", \"broken\": the share it no longer solves. "
           "95% intervals: the cluster bootstrap over families and problems, each problem with its rows of every "
           "seed (eta/report/transitions.py). \"vs\": the arm's share minus its counterpart's on the same rows."]
    for arm in dict.fromkeys(r.arm for r in rows):
        mine = [r for r in rows if r.arm == arm]
        against = next((r.against for r in mine if r.against), None)
        out += ["", f"### {arm}", "", "| base class | rows | families | fixed or broken [95% CI] |"
                + (f" vs {against} |" if against else ""), "| --- | --- | --- | --- |" + (" --- |" if against else "")]
        for r in (r for r in mine if r.against is None):
            d = next((x for x in mine if x.against and x.base_class == r.base_class), None)
            cells = [r.base_class, str(r.share.n_problems), str(r.share.n_families),
                     f"{r.moved} {_fmt('pass@1', r.share, False)}"]
            if against:
                cells.append(_fmt("pass@1", d.share, True) if d else "")
            out.append("| " + " | ".join(cells) + " |")
    return out


def markdown(rows: Sequence[Row], title: str, notes: Sequence[str] = (), primary: Sequence[Primary] = (),
             endpoint: str = ENDPOINT, transitions: Sequence[Transition] = ()) -> str:
    out = [f"# {title}", "", "Mean and 95% interval per method (a cluster bootstrap: families of problems, problems "
           "within them and, crossed with them, seeds; eta/report/bootstrap.py), and the paired difference against "
           "the base and against the method's binary counterpart (same seeds, same problems); \"spans 0\": the "
           "interval includes no change. \"problems\" counts each seed's problems; \"families\" the distinct "
           "families of problems.", ""]
    out += [f"- {n}" for n in notes]
    if any(r.against and r.against.endswith("(same policy)") for r in rows):
        out.append("- Repair controls (`eval.repair.controls`): \"vs none (same policy)\" is the feedback's repair "
                   "accuracy minus that of the same policy shown the failing program without feedback, \"vs scratch "
                   "(same policy)\" minus the same policy asked the problem alone (no program); paired by program. "
                   "A gain over the base that these do not show is the policy solving the problem, not using the "
                   "feedback.")
    out += primary_markdown(primary, endpoint)
    if primary:
        out += ["", f"## Exploratory: everything below ({len(rows)} intervals and the transition table)", "",
                "Unadjusted 95% intervals, not corrected for their number: read them as exploratory; only the "
                "primary analysis above is confirmatory."]
    out += transitions_markdown(transitions)
    for metric in dict.fromkeys(r.metric for r in rows):
        mine = [r for r in rows if r.metric == metric]
        against = list(dict.fromkeys(r.against for r in mine if r.against))
        source = "seeds only" if not any(r.est.n_problems > r.est.n_seeds for r in mine) else "seeds x problems"
        out += ["", f"## {metric} ({source})", "",
                "| method | seeds | problems | families | mean [95% CI] | " + " | ".join(f"vs {a}" for a in against) + " |",
                "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in against) + " |"]
        for label in dict.fromkeys(r.method for r in mine):
            own = next((r for r in mine if r.method == label and r.against is None), None)
            if own is None:
                continue
            cells = [label, str(own.est.n_seeds), str(own.est.n_problems), str(own.est.n_families),
                     _fmt(metric, own.est, False)]
            for a in against:
                d = next((r for r in mine if r.method == label and r.against == a), None)
                cells.append(_fmt(metric, d.est, True) if d else "")
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


CSV_COLUMNS = ("metric", "method", "against", "estimate", "mean", "ci_low", "ci_high", "spans_zero", "seeds", "problems",
               "families", "p_value", "analysis", "holm_level", "holm_low", "holm_high", "p_holm", "detectable_80")


def csv_rows(rows: Sequence[Row], primary: Sequence[Primary] = (), endpoint: str = ENDPOINT) -> list[dict[str, Any]]:
    """One row per estimate; the primary contrasts' rows carry their Holm-adjusted interval and power."""
    main = {(endpoint, p.method, p.against): p for p in primary}
    out = []
    for r in rows:
        p = main.get((r.metric, r.method, r.against))
        row = {"metric": r.metric, "method": r.method, "against": r.against or "",
               "estimate": "difference" if r.against else "mean", "mean": r.est.mean, "ci_low": r.est.low,
               "ci_high": r.est.high, "spans_zero": r.est.spans_zero if r.against else "",
               "seeds": r.est.n_seeds, "problems": r.est.n_problems, "families": r.est.n_families,
               "p_value": "" if r.est.p_value is None else r.est.p_value,
               "analysis": "primary" if p else "exploratory"}
        if p:
            row.update(holm_level=p.est.level, holm_low=p.est.low, holm_high=p.est.high, p_holm=p.p_holm,
                       detectable_80="" if p.detectable is None else p.detectable)
        out.append(row)
    return out


def write_csv(rows: Sequence[Row], path: Path, primary: Sequence[Primary] = (), endpoint: str = ENDPOINT) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(csv_rows(rows, primary, endpoint))


def _slug(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric.replace("@", "_at_"))


def plot_metric(rows: Sequence[Row], metric: str, path: Path) -> Path:
    """One metric by method, the bar at the mean, the error bar the interval."""
    from eta.report.plots import new_figure, save_figure

    own = [r for r in rows if r.metric == metric and r.against is None]
    fig = new_figure(max(4.0, 1.1 * len(own) + 2), 3.6)
    ax = fig.add_subplot()
    means = [r.est.mean for r in own]
    err = [[max(m - r.est.low, 0) for m, r in zip(means, own)], [max(r.est.high - m, 0) for m, r in zip(means, own)]]
    ax.bar(range(len(own)), means, yerr=err, capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(own)), [r.method for r in own], rotation=20)
    ax.set_title(f"{metric} (95% CI)")
    ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, path)


def plot_outcome_stack(rows: Sequence[Row], path: Path) -> Path | None:
    from eta.report.plots import new_figure, save_figure

    own = [r for r in rows if r.metric.startswith("outcome/") and r.against is None]
    if not own:
        return None
    methods = list(dict.fromkeys(r.method for r in own))
    outcomes = list(dict.fromkeys(r.metric.split("/", 1)[1] for r in own))
    fig = new_figure(max(5.0, 1.1 * len(methods) + 3), 4.0)
    ax = fig.add_subplot()
    bottom = np.zeros(len(methods))
    for outcome in outcomes:
        heights = np.array([next((r.est.mean for r in own if r.method == m and r.metric == f"outcome/{outcome}"), 0.0)
                            for m in methods])
        ax.bar(range(len(methods)), heights, bottom=bottom, label=outcome)
        bottom += heights
    ax.set_xticks(range(len(methods)), methods, rotation=20)
    ax.set_ylabel("fraction of samples (mean over seeds)")
    ax.set_title("outcomes of the held-out samples")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    return save_figure(fig, path)


def plot_rounds_by_method(rounds: Mapping[str, Mapping[int, Mapping[str, Mapping[str, Any]]]], path: Path) -> Path | None:
    """Each round metric (and repair accuracy) against the round, one line per method (the mean over its seeds
    of metrics.json)."""
    from eta.report.plots import new_figure, round_values, save_figure

    if not rounds:
        return None
    values = {label: [{int(r): round_values(m) for r, m in per_round.items()} for per_round in by_seed.values()]
              for label, by_seed in rounds.items()}
    names = list(dict.fromkeys(k for runs in values.values() for run in runs for m in run.values() for k in m))
    if not names:
        return None
    fig = new_figure(3.4 * len(names), 3.4)
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        for label in ordered(values):
            by_round: dict[int, list[float]] = {}
            for run in values[label]:
                for r, m in run.items():
                    if name in m:
                        by_round.setdefault(r, []).append(m[name])
            xs = sorted(by_round)
            ax.plot(xs, [np.mean(by_round[x]) for x in xs], marker="o", label=label)
        ax.set_xlabel("round (0 = base)")
        ax.set_title(name)
    fig.axes[0].legend(frameon=False, fontsize=8)
    return save_figure(fig, path)


def write_plots(rows: Sequence[Row], ev: Evaluations, out_dir: Path) -> dict[str, Path]:
    plots: dict[str, Path] = {}
    for metric in dict.fromkeys(r.metric for r in rows if not r.metric.startswith("outcome/")):
        plots[f"comparison/{metric}"] = plot_metric(rows, metric, out_dir / f"{_slug(metric)}.png")
    if (stacked := plot_outcome_stack(rows, out_dir / "outcomes_by_method.png")) is not None:
        plots["comparison/outcomes"] = stacked
    if (by_round := plot_rounds_by_method(ev.rounds, out_dir / "rounds_by_method.png")) is not None:
        plots["comparison/rounds"] = by_round
    return plots


def log_wandb(sweep_dir: Path, logger: Mapping[str, Any], rows: Sequence[Row], plots: Mapping[str, Path],
              markdown_text: str) -> str | None:
    """A W&B run named ``comparison`` in the jobs' group, holding the table, the plots and the means."""
    import os

    import wandb

    from eta.report.wandb_log import log_to_wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run_id = "cmp-" + hashlib.sha1(str(sweep_dir.resolve()).encode()).hexdigest()[:12]
    run = wandb.init(project=logger.get("project") or "eta", entity=logger.get("entity"), group=logger.get("group"),
                     mode=str(logger.get("mode") or "offline"), dir=str(sweep_dir), id=run_id, resume="allow",
                     name="comparison", job_type="comparison", tags=list(logger.get("tags") or []) + ["comparison"])
    scalars = {f"comparison/{r.metric}/{r.method}" + (f"/vs_{r.against}" if r.against else ""):
               {"mean": r.est.mean, "ci_low": r.est.low, "ci_high": r.est.high} for r in rows}
    log_to_wandb(run, scalars, images={k: str(v) for k, v in plots.items()},
                 tables={"comparison/table": csv_rows(rows)})
    run.log({"comparison/markdown": wandb.Html(f"<pre>{markdown_text}</pre>")})
    run.finish()
    return run_id
