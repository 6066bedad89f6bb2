"""A sweep's summary: ``sweep.json``, ``sweep.md`` and Optuna's matplotlib plots, in the sweep directory."""

from __future__ import annotations

import shlex
import warnings
from dataclasses import asdict
from pathlib import Path

from odin_core.foundation.files import atomic_write_json, atomic_write_text
from odin_core.foundation.layout import SWEEP_HISTORY_PLOT, SWEEP_IMPORTANCE_PLOT, SWEEP_JSON, SWEEP_REPORT, SWEEP_STUDY
from odin_core.foundation.markdown import table

#: completed trials needed before parameter importances are drawn
MIN_TRIALS_FOR_IMPORTANCE = 3


def counts_towards_total(trial) -> bool:
    """Complete, pruned, and failed by an error of its own (not by an interruption)."""
    name = trial.state.name
    return name in ("COMPLETE", "PRUNED") or (name == "FAIL" and "error" in trial.user_attrs)


def _state(trial) -> str:
    name = trial.state.name.lower()
    if name == "fail":
        return "failed" if "error" in trial.user_attrs else "interrupted"
    return {"complete": "complete", "pruned": "pruned", "running": "running", "waiting": "waiting"}.get(name, name)


def trial_rows(study) -> list[dict]:
    rows = []
    reruns = {t.user_attrs["rerun_of"]: t.number for t in study.get_trials(deepcopy=False)
              if "rerun_of" in t.user_attrs}
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name == "WAITING":
            continue
        row = {"number": trial.number, "params": dict(trial.params), "value": trial.value,
               "state": _state(trial), "run_dir": trial.user_attrs.get("run_dir"),
               "overrides": trial.user_attrs.get("overrides", [])}
        for key in ("error", "pruned_at_step", "rerun_of", "duplicate_of"):
            if key in trial.user_attrs:
                row[key] = trial.user_attrs[key]
        if "resume_dir" in trial.user_attrs:
            row["continued"] = True
        if trial.number in reruns:
            row["rerun_as"] = reruns[trial.number]
        if trial.datetime_start and trial.datetime_complete:
            row["seconds"] = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
        rows.append(row)
    return rows


def _best(rows: list[dict], direction: str) -> dict | None:
    complete = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    if not complete:
        return None
    pick = max if direction == "maximize" else min
    return pick(complete, key=lambda r: r["value"])  # the earliest trial among equal values


def _plots(sweep_dir: Path, study, n_params: int, complete: int) -> dict:
    """Optimisation history, and parameter importances (with 2 or more params and enough complete trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    drawn, notes = {}, {}
    if complete == 0:
        return {"drawn": drawn, "notes": {"history": "no complete trial"}}
    jobs = [("history", SWEEP_HISTORY_PLOT, optuna.visualization.matplotlib.plot_optimization_history)]
    if n_params < 2:
        notes["importances"] = "one parameter searched"
    elif complete < MIN_TRIALS_FOR_IMPORTANCE:
        notes["importances"] = f"fewer than {MIN_TRIALS_FOR_IMPORTANCE} complete trials"
    else:
        jobs.append(("importances", SWEEP_IMPORTANCE_PLOT, optuna.visualization.matplotlib.plot_param_importances))
    for name, file, draw in jobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's matplotlib plots are marked experimental
                axes = draw(study)
                figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
                figure.set_size_inches(8, 5)
                figure.tight_layout()
                figure.savefig(sweep_dir / file, dpi=110)
                plt.close(figure)
            drawn[name] = file
        except Exception as exc:  # e.g. all values equal: importances undefined
            notes[name] = f"not drawn: {type(exc).__name__}: {exc}"
    return {"drawn": drawn, "notes": notes}


def write_summary(sweep_dir: Path, config, study, plots: bool = False) -> dict:
    """Write ``sweep.json`` and ``sweep.md`` (and the plots with ``plots=True``); returns the summary."""
    rows = trial_rows(study)
    best = _best(rows, config.direction)
    keys = list(dict.fromkeys(key for row in rows for key in row["params"]))
    complete = sum(r["state"] == "complete" for r in rows)
    summary = {
        "sweep_dir": str(sweep_dir), "study": str(sweep_dir / SWEEP_STUDY), **asdict(config),
        "finished": sum(counts_towards_total(t) for t in study.get_trials(deepcopy=False)),
        "states": {state: sum(r["state"] == state for r in rows)
                   for state in ("complete", "pruned", "failed", "interrupted", "running")},
        "best": None, "trials_table": rows,
    }
    if best:
        every = [*config.overrides, *best["overrides"]]
        summary["best"] = {"number": best["number"], "value": best["value"], "params": best["params"],
                           "overrides": best["overrides"], "run_dir": best["run_dir"],
                           "set": " ".join(f"--set {shlex.quote(o)}" for o in best["overrides"]),
                           "command": shlex.join(["odin", "run", config.recipe,
                                                  *(p for o in every for p in ("--set", o))])}
    previous = (sweep_dir / SWEEP_JSON)
    if plots:
        summary["plots"] = _plots(sweep_dir, study, len(keys), complete)
    elif previous.is_file():  # keep the plots of an earlier pass listed
        import json

        summary["plots"] = json.loads(previous.read_text(encoding="utf-8")).get("plots", {})
    atomic_write_json(sweep_dir / SWEEP_JSON, summary)
    atomic_write_text(sweep_dir / SWEEP_REPORT, render(summary, keys))
    return summary


def _shown(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, str) and value.startswith("@"):  # a table from a file: its name says enough
        return "@" + Path(value[1:]).name
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _relative(path, base) -> str:
    if not path:
        return "–"
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return str(path)


def render(summary: dict, keys: list[str]) -> str:
    base = summary["sweep_dir"]
    states = ", ".join(f"{n} {s}" for s, n in summary["states"].items() if n)
    lines = [f"# Sweep of {Path(summary['recipe']).name}", "",
             f"- recipe: `{summary['recipe']}`" + (f" with `{' '.join('--set ' + o for o in summary['overrides'])}`"
                                                 if summary["overrides"] else ""),
             f"- metric: `{summary['metric']}` ({summary['direction']}); searched: "
             + "; ".join(f"`{p}`" for p in summary["params"])
             + "; ".join(f"`{g}` (grid)" for g in summary.get("grid", [])),
             f"- trials: {summary['finished']} of {summary['trials']} finished ({states or 'none yet'}); "
             + ("every combination of the grid, in order" if summary.get("grid")
                else f"TPE sampler seeded {summary['seed']}")
             + "; pruning: " + (f"median of earlier trials' `{summary.get('prune_on', 'eval_loss')}`, after "
                                f"{summary['prune_after']} trials" if summary["prune"] else "off"),
             f"- study: `{SWEEP_STUDY}` (Optuna, SQLite); continue or extend with "
             f"`odin sweep --resume {base} [--trials N]`", ""]
    best = summary.get("best")
    lines += ["## Best trial", ""]
    if best:
        lines += [f"Trial {best['number']}: {summary['metric']} = {best['value']:.6g} (`{_relative(best['run_dir'], base)}`). "
                  "Its values, ready to paste:", "", "    " + best["set"], "", "The whole run again:", "",
                  "    " + best["command"], ""]
    else:
        lines += ["No trial completed yet.", ""]
    rows = []
    for row in summary["trials_table"]:
        state = row["state"]
        if "pruned_at_step" in row:
            state += f" at step {row['pruned_at_step']}"
        if "rerun_as" in row:
            state += f" (run again as {row['rerun_as']})"
        if "rerun_of" in row:
            state += f" (rerun of {row['rerun_of']}{', from its checkpoint' if row.get('continued') else ''})"
        if "duplicate_of" in row:
            state += f" (same values as trial {row['duplicate_of']}: not run again)"
        if "error" in row:
            state += ": " + " ".join(row["error"].split())[:120].replace("|", "\\|")
        rows.append([str(row["number"]), *(_shown(row["params"].get(k)) for k in keys), _shown(row["value"]),
                     state, f"`{_relative(row['run_dir'], base)}`"])
    lines += ["## Trials", "", table(["trial", *keys, summary["metric"], "state", "run directory"], rows), ""]
    plots = summary.get("plots", {})
    if plots.get("drawn") or plots.get("notes"):
        lines += ["## Plots", ""]
        lines += [f"![{name}]({file})" for name, file in plots.get("drawn", {}).items()]
        lines += [f"- {name}: {note}" for name, note in plots.get("notes", {}).items()]
        lines.append("")
    done = list(dict.fromkeys(row["run_dir"] for row in summary["trials_table"] if row["state"] == "complete"))
    if len(done) >= 2:
        lines += ["## Compare the trials", "", "Each trial is an ordinary run directory:", "",
                  "    " + shlex.join(["odin", "compare", *done]), ""]
    return "\n".join(lines)
