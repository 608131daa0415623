#!/usr/bin/env python3
"""Aggregates the Meta-World comparison: per-task rows and the average over tasks.

Reads TASK/runs/PRIOR/seed-N/{summary.json,metrics.jsonl} under this folder (what
`lago compare -out TASK` wrote) and writes summary.json and summary.md here.

final success = a run's success over its last 100 training episodes (summary.json's
final_success; at 20,000 steps a run has 40 episodes, so all of them); AUC = `lago
compare`'s (TASK/summary.json: the area under the success curve over [0, steps] / steps). The average over tasks is taken per seed
(seed s's mean over the tasks), then its mean and 95% CI by Student's t over the
seeds, as the paper reports MT10's average success. Standard library only.
"""
import json
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PRIORS = ["none", "scripted-0.9", "uniform"]
# Student's t, two-sided 95%, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def ci(xs):
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, float("nan"), float("nan")
    h = T95[len(xs) - 1] * statistics.stdev(xs) / math.sqrt(len(xs))
    return m, m - h, m + h


def run_figures(d):
    with open(os.path.join(d, "summary.json")) as f:
        s = json.load(f)
    r = {"seed": s["seed"], "final_success": s["final_success"], "final_return": s["final_return"],
         "wall_s": s["wall_s"], "global_step": s["global_step"]}
    ev = os.path.join(d, "eval.json")
    if os.path.exists(ev):
        with open(ev) as f:
            r["eval_success"] = json.load(f)["success_rate"]
    return r


def compare_auc(task, prior):
    """lago compare's AUC row for prior ("scripted-0.9" is its "scripted:0.9")."""
    path = os.path.join(HERE, task, "summary.json")
    if not os.path.exists(path):
        return float("nan")
    with open(path) as f:
        rows = json.load(f)
    for r in rows:
        if r["prior"].replace(":", "-") == prior:
            return r["auc"]
    return float("nan")


# Tasks where vanilla PPO and LaGO both stayed at (or within one episode of) 0 success
# at this budget: the brief asks for tasks where PPO is neither 0 nor 1 for both arms.
EXCLUDED = ["button-press-topdown"]


def average(out, tasks):
    """Per prior: each seed's mean over tasks, then mean and t-CI over the seeds;
    LaGO minus vanilla paired by seed."""
    avg = {"tasks": tasks}
    for p in PRIORS:
        a = {}
        for key, src in [("", "final_success"), ("eval_", "eval_success")]:
            per_seed = {}
            for t in tasks:
                for r in out["tasks"][t][p]["runs"]:
                    if src in r:
                        per_seed.setdefault(r["seed"], []).append(r[src])
            if not per_seed or any(len(v) != len(tasks) for v in per_seed.values()):
                continue
            xs = [statistics.fmean(v) for _, v in sorted(per_seed.items())]
            m, lo, hi = ci(xs)
            a.update({key + "success_mean": m, key + "success_ci95": [lo, hi], key + "per_seed": xs})
        a["auc"] = statistics.fmean(out["tasks"][t][p]["auc"] for t in tasks)
        avg[p] = a
    for p in ["scripted-0.9", "uniform"]:
        for key in ["", "eval_"]:
            if key + "per_seed" in avg[p] and key + "per_seed" in avg["none"]:
                d = [a - b for a, b in zip(avg[p][key + "per_seed"], avg["none"][key + "per_seed"])]
                m, lo, hi = ci(d)
                avg[p][key + "minus_none"] = {"mean": m, "ci95": [lo, hi]}
    return avg


def main():
    tasks = sorted(t for t in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, t, "runs")))
    out = {"tasks": {}, "average": {}}
    for t in tasks:
        out["tasks"][t] = {}
        for p in PRIORS:
            base = os.path.join(HERE, t, "runs", p)
            runs = []
            if os.path.isdir(base):
                for sd in sorted(os.listdir(base)):
                    if os.path.exists(os.path.join(base, sd, "summary.json")):
                        runs.append(run_figures(os.path.join(base, sd)))
            if not runs:
                continue
            m, lo, hi = ci([r["final_success"] for r in runs])
            rm, rlo, rhi = ci([r["final_return"] for r in runs])
            out["tasks"][t][p] = {"seeds": len(runs), "success_mean": m, "success_ci95": [lo, hi],
                                  "return_mean": rm, "return_ci95": [rlo, rhi],
                                  "auc": compare_auc(t, p), "runs": runs}
            if all("eval_success" in r for r in runs):
                em, elo, ehi = ci([r["eval_success"] for r in runs])
                out["tasks"][t][p]["eval_success_mean"] = em
                out["tasks"][t][p]["eval_success_ci95"] = [elo, ehi]
    # The average over tasks: only tasks where every prior has every seed; once over
    # all of them and once without the tasks where both arms stayed at 0 (EXCLUDED).
    complete = [t for t in tasks if all(p in out["tasks"][t] and out["tasks"][t][p]["seeds"] == 5 for p in PRIORS)]
    sets = {"all": complete, "informative": [t for t in complete if t not in EXCLUDED]}
    out["average"] = {name: average(out, ts) for name, ts in sets.items() if ts}
    with open(os.path.join(HERE, "summary.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    def evs(r, key="eval_success_mean", cik="eval_success_ci95"):
        return "%.3f [%.3f, %.3f]" % (r[key], r[cik][0], r[cik][1]) if key in r else "(not evaluated)"

    lines = ["| task | prior | training success, last 100 episodes (95% CI) | final return (95% CI) | AUC | per seed | final policy, 20 eval episodes (95% CI) | per seed |",
             "|---|---|---|---|---|---|---|---|"]
    for t in tasks:
        for p, r in out["tasks"][t].items():
            runs = sorted(r["runs"], key=lambda x: x["seed"])
            per = " ".join("%.2f" % x["final_success"] for x in runs)
            eper = " ".join("%.2f" % x["eval_success"] for x in runs if "eval_success" in x)
            lines.append("| %s | %s | %.3f [%.3f, %.3f] | %.0f [%.0f, %.0f] | %.3f | %s | %s | %s |" % (
                t, p, r["success_mean"], r["success_ci95"][0], r["success_ci95"][1],
                r["return_mean"], r["return_ci95"][0], r["return_ci95"][1], r["auc"], per, evs(r), eper))
    def dif(d):
        return "%+.3f [%+.3f, %+.3f]" % (d["mean"], d["ci95"][0], d["ci95"][1]) if d else ""
    for name, avg in out["average"].items():
        lines += ["", "Average over %s (%s; per seed, then Student's t over the 5 seeds):" % (", ".join(avg["tasks"]), name), "",
                  "| prior | training success (95% CI) | AUC | minus none, paired by seed (95% CI) | final policy success (95% CI) | minus none, paired by seed (95% CI) |",
                  "|---|---|---|---|---|---|"]
        for p in PRIORS:
            a = avg[p]
            lines.append("| %s | %.3f [%.3f, %.3f] | %.3f | %s | %s | %s |" % (
                p, a["success_mean"], a["success_ci95"][0], a["success_ci95"][1], a["auc"],
                dif(a.get("minus_none")), evs(a), dif(a.get("eval_minus_none"))))
    with open(os.path.join(HERE, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
