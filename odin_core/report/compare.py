"""Several runs side by side (model size against accuracy), with paired tests on the same rows."""

from __future__ import annotations

import csv
import io
import json
import tomllib

from odin_core.foundation.errors import DataError
from odin_core.foundation.layout import RECIPE_FILE, predictions_file
from odin_core.foundation.records import task_accuracy
from odin_core.recipe.schema import flat_keys
from odin_core.report.render import stages_of
from odin_core.report.significance import load_outcomes, paired_test
from odin_core.report.tables import get, stage_label, interval, load_metrics, num, p_value, params, pct, run_path, table


def _compare_stage(metrics: dict, evaluation: str | None):
    if evaluation:
        return get(metrics, "evaluations", evaluation)
    return metrics.get("rl") or metrics.get("trained") or metrics.get("base")  # the run's final model


def compare_runs(run_dirs, evaluation: str | None = None) -> dict:
    """Side-by-side figures of several runs: {"runs": [summary row], "tasks": {task: {run: accuracy}}}.

    Each run contributes its final model's evaluation (after its RL stage when it has one), or the ``odin eval``
    result named ``evaluation``. Rows are sorted by model size (parameters).
    """
    runs, tasks, outcomes = [], {}, {}
    for run_dir in run_dirs:
        path = run_path(run_dir)
        metrics = load_metrics(path)
        stage = _compare_stage(metrics, evaluation)
        if not stage:
            known = ", ".join(sorted(metrics.get("evaluations") or {})) or "none"
            what = f"no evaluation named {evaluation!r} (it has: {known})" if evaluation else "no evaluated model"
            raise DataError(what, file=path)
        accuracy = task_accuracy(stage)
        overall = accuracy.get("overall") or {}
        majority = (get(stage, "baselines", "majority") if evaluation else get(metrics, "baselines", "majority")) or {}
        families = accuracy.get("per_family") or {}
        model = stage.get("model") or {}
        runs.append({
            "run": path.name, "recipe": metrics.get("recipe"), "model": model.get("name") or model.get("loader"),
            "strategy": None if evaluation else get(metrics, "training", "strategy"),
            "parameters": model.get("parameters"), "split": stage.get("split"), "examples": stage.get("num_examples"),
            "accuracy": overall.get("micro"), "accuracy_ci95": overall.get("ci95"),
            "macro_accuracy": overall.get("macro"), "macro_accuracy_ci95": overall.get("macro_ci95"),
            "base_accuracy": None if evaluation else task_accuracy(metrics.get("base") or {}).get("overall", {}).get("micro"),
            "majority_accuracy": task_accuracy(majority).get("overall", {}).get("micro"),
            # per task the better of majority and the learned shortcut baseline: what the model must beat
            "shortcut_accuracy": task_accuracy((get(stage, "baselines", "shortcut") if evaluation else
                                                get(metrics, "baselines", "shortcut")) or {}).get("overall", {}).get("micro"),
            "format_errors": overall.get("format_errors"),
            "families": {family: v.get("macro") for family, v in families.items()},
            "stages": {} if evaluation else _stage_summaries(metrics),
        })
        for task, v in (accuracy.get("per_task") or {}).items():
            tasks.setdefault(task, {})[path.name] = v.get("accuracy")
        outcomes[path.name] = load_outcomes(path / predictions_file(stage.get("stage") or "trained"))
    tests = _tests_against_first(outcomes, [run_path(r).name for r in run_dirs])
    runs.sort(key=lambda r: (r["parameters"] is None, r["parameters"] or 0, r["run"]))
    return {"runs": runs, "tasks": dict(sorted(tasks.items())), "tests": tests,
            "settings": differing_settings([run_path(r) for r in run_dirs])}


#: recipe keys that name or place a run without changing what it does
_NOT_SETTINGS = ("name", "description", "output_dir")


def differing_settings(paths) -> dict:
    """``{dotted recipe key: {run: value}}`` for the keys whose values differ between the runs' recorded
    recipes (a key a run lacks shows as None); the first thing one asks when comparing runs."""
    recipes = {}
    for path in paths:
        try:
            recipes[path.name] = flat_keys(tomllib.loads((path / RECIPE_FILE).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            recipes[path.name] = {}
    keys = sorted({k for flat in recipes.values() for k in flat if k not in _NOT_SETTINGS})
    return {key: {run: flat.get(key) for run, flat in recipes.items()} for key in keys
            if len({json.dumps(flat.get(key), sort_keys=True) for flat in recipes.values()}) > 1}


def _stage_summaries(metrics: dict) -> dict:
    """Accuracy (overall with its interval, macro, per family) of each stage of a run: base, zero-shot, k-shot,
    trained, majority."""
    summaries = {}
    for label, stage in stages_of(metrics):
        accuracy = task_accuracy(stage)
        overall = accuracy.get("overall") or {}
        summaries[label] = {"macro_accuracy": overall.get("macro"), "accuracy": overall.get("micro"),
                            "accuracy_ci95": overall.get("ci95"), "examples": overall.get("n"),
                            "format_errors": overall.get("format_errors"),
                            "families": {f: v.get("macro") for f, v in (accuracy.get("per_family") or {}).items()}}
    return summaries



def _tests_against_first(outcomes: dict, order: list[str]) -> dict:
    """Each run tested against the first run given, when both were evaluated on the same rows."""
    tests = {}
    if len(order) < 2:
        return tests
    reference = order[0]
    for name in order[1:]:
        a, b = outcomes.get(name) or {}, outcomes.get(reference) or {}
        if not a or not b:
            tests[name] = {"against": reference, "refused": "no per-row predictions to pair"}
        elif set(a) != set(b):
            shared = len(set(a) & set(b))
            tests[name] = {"against": reference,
                           "refused": f"evaluated on different rows ({shared} shared, {len(a)} vs {len(b)}); "
                                      "a paired test needs the same rows, e.g. odin eval on one frozen set"}
        else:
            tests[name] = {"against": reference, **paired_test(a, b)}
    return tests


def _setting(value) -> str:
    return "–" if value is None else (value if isinstance(value, str) else json.dumps(value))


def _bounds(ci) -> tuple:
    """(low, high) of a 95% interval, or two blanks where the run has none."""
    return (ci[0], ci[1]) if ci else (None, None)


def render_comparison(comparison: dict, fmt: str = "markdown") -> str:
    """The comparison as a Markdown table (plus per-task table), CSV, or JSON."""
    runs = comparison["runs"]
    if fmt == "json":
        return json.dumps(comparison, indent=2)
    families = sorted({f for r in runs for f in r["families"]})
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["run", "recipe", "model", "strategy", "parameters", "split", "examples", "accuracy", "accuracy_ci95_low",
                         "accuracy_ci95_high", "macro_accuracy", "macro_accuracy_ci95_low", "macro_accuracy_ci95_high",
                         "base_accuracy", "majority_accuracy", "shortcut_accuracy", "format_errors", *families])
        for r in runs:
            writer.writerow([r["run"], r["recipe"], r["model"], r.get("strategy"), r["parameters"], r["split"], r["examples"],
                             r["accuracy"], *_bounds(r.get("accuracy_ci95")), r["macro_accuracy"],
                             *_bounds(r.get("macro_accuracy_ci95")), r["base_accuracy"], r["majority_accuracy"],
                             r["shortcut_accuracy"], r["format_errors"], *[r["families"].get(f) for f in families]])
        return out.getvalue()
    header = ["run", "model", "parameters", "split", "n", "accuracy %", "95% CI", "macro %", "base %", "majority %",
              "shortcut %", "format errors", *[f"{f} %" for f in families]]
    rows = [[r["run"], r["model"] or "–", params(r["parameters"]), r["split"] or "–", num(r["examples"]),
             pct(r["accuracy"]), interval(r.get("accuracy_ci95")), pct(r["macro_accuracy"]), pct(r["base_accuracy"]),
             pct(r["majority_accuracy"]), pct(r["shortcut_accuracy"]), num(r["format_errors"]),
             *[pct(r["families"].get(f)) for f in families]]
            for r in runs]
    text = table(header, rows) + "\n"
    settings = comparison.get("settings") or {}
    if settings:
        names = [r["run"] for r in runs]
        text += ("\nRecipe keys that differ between the runs:\n\n"
                 + table(["key", *names], [[key, *[_setting(values.get(name)) for name in names]]
                                           for key, values in settings.items()]) + "\n")
    stage_rows = [[r["run"], stage_label(label, r.get("strategy")), num(s.get("examples")), pct(s.get("accuracy")),
                   interval(s.get("accuracy_ci95")), pct(s.get("macro_accuracy")), num(s.get("format_errors")),
                   *[pct(s["families"].get(f)) for f in families]]
                  for r in runs for label, s in (r.get("stages") or {}).items()]
    if stage_rows:
        text += ("\nEach run's stages:\n\n" + table(["run", "stage", "n", "accuracy %", "95% CI", "macro %",
                                                       "format errors", *[f"{f} %" for f in families]], stage_rows)
                 + "\n")
    tests = comparison.get("tests") or {}
    if tests:
        test_rows = []
        for name, t in tests.items():
            if "refused" in t:
                test_rows.append([name, t["against"], "–", "–", f"not tested: {t['refused']}"])
                continue
            o = t["overall"]
            test_rows.append([name, t["against"], f"{100 * o['difference']:+.1f}", p_value(o["p_value"]),
                              "yes" if not o["marker"] else "no (n.s.)"])
        text += ("\nPaired test against the first run (exact McNemar on the same rows):\n\n"
                 + table(["run", "against", "Δ points", "p", "significant at 5%"], test_rows) + "\n")
    if comparison["tasks"]:
        names = [r["run"] for r in runs]
        task_rows = [[task, *[pct(by_run.get(name)) for name in names]] for task, by_run in comparison["tasks"].items()]
        text += "\nAccuracy % per task:\n\n" + table(["task", *names], task_rows) + "\n"
    return text

