"""Run reports: ``report.md`` with tables and PNG plots from ``metrics.json``, and run comparisons.

``write_report(run_dir)`` reads ``metrics.json`` (stage records from
``odin_core.evaluate``), ``metrics.jsonl`` (training loss) and
``predictions-*.jsonl`` and writes ``report.md``, ``loss.png`` and
``task_accuracy.png``. ``compare_runs`` builds the side-by-side table of
``odin compare``. matplotlib is imported inside the plotting functions.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from odin_core.errors import DataError
from odin_core.rundir import RunDir

#: failures listed in a report, at most
WORST_FAILURES = 10
#: prompt characters shown per failure
PROMPT_CHARS = 1500


# --- reading ----------------------------------------------------------------


def _path(run_dir) -> Path:
    return Path(getattr(run_dir, "path", run_dir))


def load_metrics(run_dir) -> dict:
    """``metrics.json`` of a run directory, or a DataError saying what is missing."""
    path = _path(run_dir) / "metrics.json"
    if not _path(run_dir).is_dir():
        raise DataError("is not a run directory", file=_path(run_dir))
    if not path.exists():
        raise DataError("no metrics.json: the run did not finish evaluating; evaluate it with `odin eval RUN_DIR`",
                        file=_path(run_dir))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"is not valid JSON ({exc.msg})", file=path, line=exc.lineno) from None


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file (a torn last line is skipped)."""
    return RunDir(Path(path).parent).read_jsonl(Path(path).name)


# --- numbers ------------------------------------------------------------------


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _delta(a, b) -> str:
    if a is None or b is None:
        return "–"
    return f"{100 * (a - b):+.1f}"


def _num(value, digits=3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _get(record, *keys):
    for key in keys:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _stages(metrics: dict) -> list[tuple[str, dict]]:
    """(label, stage record) of base, trained and the majority baseline, where present."""
    stages = []
    for key, label in (("base", "base"), ("trained", "trained")):
        if isinstance(metrics.get(key), dict):
            stages.append((label, metrics[key]))
    if isinstance(_get(metrics, "baselines", "majority"), dict):
        stages.append(("majority", metrics["baselines"]["majority"]))
    return stages


# --- plots ------------------------------------------------------------------------


def plot_loss(records: list[dict], path: Path) -> bool:
    """Training (and evaluation) loss against step as a PNG; False when no loss was logged."""
    train = [(r["step"], r["loss"]) for r in records if isinstance(r.get("loss"), (int, float)) and "step" in r]
    evals = [(r["step"], r["eval_loss"]) for r in records
             if isinstance(r.get("eval_loss"), (int, float)) and "step" in r]
    if not train and not evals:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="training loss")
    if evals:
        ax.plot(*zip(*evals), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_task_accuracy(metrics: dict, path: Path) -> bool:
    """Per-task accuracy bars (base, trained, majority baseline) as a PNG; False without task accuracy."""
    stages = [(label, _get(stage, "metrics", "task_accuracy", "per_task")) for label, stage in _stages(metrics)]
    stages = [(label, per_task) for label, per_task in stages if per_task]
    if not stages:
        return False
    tasks = sorted({task for _, per_task in stages for task in per_task})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = 0.8 / len(stages)
    fig, ax = plt.subplots(figsize=(8, max(3.0, (0.2 + 0.12 * len(stages)) * len(tasks) + 1.4)))
    for k, (label, per_task) in enumerate(stages):
        values = [100 * (_get(per_task, task, "accuracy") or 0.0) for task in tasks]
        positions = [i + (k - (len(stages) - 1) / 2) * height for i in range(len(tasks))]
        ax.barh(positions, values, height=height, label=label)
    ax.set_yticks(range(len(tasks)))
    ax.set_yticklabels(tasks)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(stages), frameon=False,
              title="Accuracy per task")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --- failures ------------------------------------------------------------------------


def _severity(record: dict) -> float:
    """How wrong a failed prediction is, for ordering failures within a task (format errors first)."""
    if record.get("format_error"):
        return 10.0
    kind, parsed, gold = record.get("answer_kind"), record.get("parsed"), record.get("answer")
    if kind in ("count", "path_length"):
        if parsed is None or gold is None:
            return 1.0
        return min(5.0, abs(parsed - gold) / max(1, abs(gold)))
    if kind == "vertex_set":
        pred, truth = set(parsed or ()), set(gold or ())
        union = pred | truth
        return 1.0 - (len(pred & truth) / len(union) if union else 1.0)
    if kind == "yes_no" and isinstance(record.get("score"), (int, float)):
        return min(5.0, abs(record["score"]))
    return 1.0


def worst_failures(predictions: list[dict], limit: int = WORST_FAILURES) -> list[dict]:
    """The worst wrong predictions, taken in turn from the tasks with the lowest accuracy first."""
    by_task: dict[str, list[dict]] = {}
    totals: dict[str, list[int]] = {}
    for record in predictions:
        task = record.get("task", "?")
        totals.setdefault(task, [0, 0])
        totals[task][0] += 1
        totals[task][1] += bool(record.get("correct"))
        if not record.get("correct"):
            by_task.setdefault(task, []).append(record)
    for records in by_task.values():
        records.sort(key=_severity, reverse=True)
    order = sorted(by_task, key=lambda t: (totals[t][1] / totals[t][0], t))
    chosen, depth = [], 0
    while len(chosen) < limit and any(depth < len(by_task[t]) for t in order):
        for task in order:
            if depth < len(by_task[task]) and len(chosen) < limit:
                chosen.append(by_task[task][depth])
        depth += 1
    return chosen


def _fence(text: str) -> str:
    text = text if len(text) <= PROMPT_CHARS else text[:PROMPT_CHARS] + f"\n… ({len(text) - PROMPT_CHARS} more characters)"
    return "```text\n" + text.replace("```", "ʼʼʼ") + "\n```"


def _inline(text) -> str:
    text = str(text).strip().replace("\n", " ⏎ ").replace("`", "ʼ")
    return f"`{text}`" if text else "(nothing)"


# --- the report -------------------------------------------------------------------------


def _summary_section(metrics: dict) -> list[str]:
    stages = _stages(metrics)
    rows = []
    for label, stage in stages:
        overall = _get(stage, "metrics", "task_accuracy", "overall") or {}
        perplexity = _get(stage, "metrics", "perplexity", "perplexity")
        rows.append([label, _num(stage.get("num_examples")), _pct(overall.get("micro")), _pct(overall.get("macro")),
                     _num(overall.get("format_errors")), _num(perplexity, 2)])
    lines = ["## Summary", "",
             _table(["stage", "examples", "accuracy % (micro)", "accuracy % (macro over tasks)", "format errors",
                     "validation perplexity"], rows), ""]
    base = _get(metrics, "base", "metrics", "task_accuracy", "overall", "micro")
    trained = _get(metrics, "trained", "metrics", "task_accuracy", "overall", "micro")
    majority = _get(metrics, "baselines", "majority", "metrics", "task_accuracy", "overall", "micro")
    notes = []
    if trained is not None and base is not None:
        notes.append(f"trained − base: **{_delta(trained, base)}** points")
    if trained is not None and majority is not None:
        notes.append(f"trained − majority baseline: **{_delta(trained, majority)}** points")
    if notes:
        lines += ["Accuracy (micro), " + "; ".join(notes) + ".", ""]
    return lines


def _per_task_section(metrics: dict) -> list[str]:
    per = {label: _get(stage, "metrics", "task_accuracy", "per_task") or {} for label, stage in _stages(metrics)}
    tasks = sorted({t for p in per.values() for t in p})
    if not tasks:
        return []
    rows = []
    for task in tasks:
        info = next((p[task] for p in per.values() if task in p), {})
        acc = {label: _get(p, task, "accuracy") for label, p in per.items()}
        errors = "/".join(_num(_get(per.get(label, {}), task, "format_errors")) for label in ("base", "trained")
                          if label in per)
        rows.append([task, info.get("family") or "–", _num(info.get("n")), _pct(acc.get("base")),
                     _pct(acc.get("trained")), _delta(acc.get("trained"), acc.get("base")), _pct(acc.get("majority")),
                     _delta(acc.get("trained"), acc.get("majority")), errors or "–"])
    header = ["task", "family", "n", "base %", "trained %", "Δ trained−base", "majority %", "Δ trained−majority",
              "format errors (base/trained)"]
    return ["## Accuracy per task", "", _table(header, rows), ""]


def _grouped_section(metrics: dict, key: str, title: str) -> list[str]:
    per = {label: _get(stage, "metrics", "task_accuracy", key) or {} for label, stage in _stages(metrics)}
    groups = sorted({g for p in per.values() for g in p})
    if not groups:
        return []
    rows = []
    for group in groups:
        acc = {label: _get(p, group, "accuracy") for label, p in per.items()}
        n = next((_get(p, group, "n") for p in per.values() if group in p), None)
        rows.append([group, _num(n), _pct(acc.get("base")), _pct(acc.get("trained")),
                     _delta(acc.get("trained"), acc.get("base")), _pct(acc.get("majority"))])
    return [f"## Accuracy per {title}", "",
            _table([title, "n", "base %", "trained %", "Δ trained−base", "majority %"], rows), ""]


def _set_section(metrics: dict) -> list[str]:
    stages = _stages(metrics)
    if isinstance(_get(metrics, "baselines", "constant_set"), dict):
        stages.append(("best constant set", metrics["baselines"]["constant_set"]))
    rows = []
    tasks = sorted({t for _, s in stages for t in (_get(s, "metrics", "hyperedge_set_metrics", "per_task") or {})})
    for task in tasks:
        for label, stage in stages:
            m = _get(stage, "metrics", "hyperedge_set_metrics", "per_task", task)
            if not m or not m.get("n"):
                continue
            rows.append([task, label, _num(m["n"]), _pct(m["exact_match"]), _pct(m["micro"]["precision"]),
                         _pct(m["micro"]["recall"]), _pct(m["micro"]["f1"]), _pct(m["macro"]["f1"]),
                         _pct(m["micro"]["jaccard"]), _pct(m["macro"]["jaccard"]), _num(m["format_errors"])])
    if not rows:
        return []
    header = ["task", "answers of", "n", "exact %", "precision % (micro)", "recall % (micro)", "F1 % (micro)",
              "F1 % (macro)", "Jaccard % (micro)", "Jaccard % (macro)", "format errors"]
    return ["## Vertex-set answers", "",
            "Unparseable answers count as the empty set. Micro pools vertices over examples; macro averages examples.",
            "", _table(header, rows), ""]


def _discrimination_section(metrics: dict) -> list[str]:
    rows = []
    for label, stage in _stages(metrics):
        m = _get(stage, "metrics", "hyperedge_discrimination")
        if not m or not m.get("n"):
            continue
        groups = [("all", m.get("all", {}))] + list((m.get("per_scheme") or {}).items())
        for scheme, entry in groups:
            if not entry.get("negatives"):
                continue
            rows.append([scheme, label, _num(entry.get("positives")), _num(entry.get("negatives")),
                         _pct(entry.get("accuracy")), _pct(entry.get("negative_accuracy")),
                         _num(entry.get("auroc")), _num(entry.get("average_precision"))])
    if not rows:
        return []
    header = ["scheme", "stage", "positives", "negatives", "accuracy %", "negatives rejected %", "AUROC", "AP"]
    return ["## Hyperedge discrimination", "",
            "AUROC and AP rank log P(Yes) − log P(No); each scheme's negatives are ranked against all positives "
            "(SNS easy, MNS harder, CNS hardest). A constant baseline has AUROC 0.5.", "", _table(header, rows), ""]


def _failures_section(run_path: Path, metrics: dict) -> list[str]:
    stage = "trained" if (run_path / "predictions-trained.jsonl").exists() else "base"
    predictions = read_jsonl(run_path / f"predictions-{stage}.jsonl")
    if not predictions:
        return []
    failures = worst_failures(predictions)
    lines = [f"## Worst failures ({stage} model)", ""]
    if not failures:
        return lines + ["No failures: every prediction was correct.", ""]
    lines += [f"Taken in turn from the tasks with the lowest accuracy; format errors first. All predictions: "
              f"`predictions-{stage}.jsonl`.", ""]
    for k, record in enumerate(failures, 1):
        tag = " — format error" if record.get("format_error") else ""
        lines += [f"### {k}. {record.get('task')} ({record.get('encoding')}){tag}", "",
                  f"- expected: {_inline(record.get('expected'))}",
                  f"- predicted: {_inline(record.get('generated'))}"]
        if isinstance(record.get("score"), (int, float)):
            lines.append(f"- score log P(Yes) − log P(No): {record['score']:.3f}")
        lines += ["", _fence(record.get("prompt", "")), ""]
    return lines


def _evaluations_section(metrics: dict) -> list[str]:
    evaluations = metrics.get("evaluations") or {}
    if not evaluations:
        return []
    lines = ["## Other evaluations (`odin eval`)", ""]
    for label, stage in sorted(evaluations.items()):
        overall = _get(stage, "metrics", "task_accuracy", "overall") or {}
        majority = _get(stage, "baselines", "majority", "metrics", "task_accuracy", "overall", "micro")
        lines += [f"### {label}", "",
                  f"Data `{stage.get('data')}`, split `{stage.get('split')}`, {stage.get('num_examples')} examples, "
                  f"{'base model' if stage.get('base_model') else 'trained model'}: accuracy "
                  f"{_pct(overall.get('micro'))}% (macro {_pct(overall.get('macro'))}%), majority baseline "
                  f"{_pct(majority)}%, {_num(overall.get('format_errors'))} format errors"
                  + (f"; {stage['generation']['prompts_over_context']} prompts longer than the model's context"
                     if _get(stage, "generation", "prompts_over_context") else "") + ".", ""]
        per_task = _get(stage, "metrics", "task_accuracy", "per_task") or {}
        base_tasks = _get(stage, "baselines", "majority", "metrics", "task_accuracy", "per_task") or {}
        rows = [[task, _num(v.get("n")), _pct(v.get("accuracy")), _pct(_get(base_tasks, task, "accuracy")),
                 _num(v.get("format_errors"))] for task, v in sorted(per_task.items())]
        if rows:
            lines += [_table(["task", "n", "accuracy %", "majority %", "format errors"], rows), ""]
    return lines


def render_report(metrics: dict, run_path: Path, plots: dict[str, bool]) -> str:
    """The Markdown text of ``report.md``."""
    trained = metrics.get("trained") or metrics.get("base") or {}
    model = trained.get("model") or {}
    lines = [f"# Odin run report: {metrics.get('recipe', run_path.name)}", "",
             f"Run directory `{run_path}`. Evaluated on the **{trained.get('split', '?')}** split "
             f"({trained.get('num_examples', '?')} examples); model {model.get('name') or model.get('loader') or '?'} "
             f"({_params(model.get('parameters'))} parameters, {model.get('engine', '?')} engine). "
             f"Accuracy is exact match after parsing the answer after `Ans`; a format error is an answer that "
             f"cannot be read and counts as wrong.", ""]
    over = _get(trained, "generation", "prompts_over_context")
    if over:
        lines += [f"**Warning:** {over} prompts plus their answer budget are longer than the model's context.", ""]
    lines += _summary_section(metrics)
    if plots.get("task_accuracy"):
        lines += ["![accuracy per task](task_accuracy.png)", ""]
    lines += _per_task_section(metrics)
    lines += _grouped_section(metrics, "per_family", "family")
    lines += _grouped_section(metrics, "per_encoding", "encoding")
    lines += _set_section(metrics)
    lines += _discrimination_section(metrics)
    lines += ["## Training", ""]
    training = metrics.get("training") or {}
    if training:
        lines += [_table(["key", "value"], [[k, _num(v) if not isinstance(v, (dict, list)) else json.dumps(v)]
                                            for k, v in training.items()]), ""]
    lines += ["![loss curve](loss.png)" if plots.get("loss") else "No training loss was logged (metrics.jsonl).", ""]
    lines += _evaluations_section(metrics)
    lines += _failures_section(run_path, metrics)
    return "\n".join(lines).rstrip() + "\n"


def _params(count) -> str:
    if not count:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def write_report(run_dir) -> Path:
    """Write ``report.md`` and its plots into the run directory from ``metrics.json``; returns the report's path."""
    from odin_core.rundir import atomic_write_text

    run_path = _path(run_dir)
    metrics = load_metrics(run_path)
    plots = {"loss": plot_loss(read_jsonl(run_path / "metrics.jsonl"), run_path / "loss.png"),
             "task_accuracy": plot_task_accuracy(metrics, run_path / "task_accuracy.png")}
    path = run_path / "report.md"
    atomic_write_text(path, render_report(metrics, run_path, plots))
    return path


# --- comparing runs -------------------------------------------------------------------------


def _compare_stage(metrics: dict, evaluation: str | None):
    if evaluation:
        return _get(metrics, "evaluations", evaluation)
    return metrics.get("trained") or metrics.get("base")


def compare_runs(run_dirs, evaluation: str | None = None) -> dict:
    """Side-by-side figures of several runs: {"runs": [summary row], "tasks": {task: {run: accuracy}}}.

    Each run contributes its trained model's evaluation, or the ``odin eval`` result
    named ``evaluation``. Rows are sorted by model size (parameters).
    """
    runs, tasks = [], {}
    for run_dir in run_dirs:
        path = _path(run_dir)
        metrics = load_metrics(path)
        stage = _compare_stage(metrics, evaluation)
        if not stage:
            known = ", ".join(sorted(metrics.get("evaluations") or {})) or "none"
            what = f"no evaluation named {evaluation!r} (it has: {known})" if evaluation else "no evaluated model"
            raise DataError(what, file=path)
        overall = _get(stage, "metrics", "task_accuracy", "overall") or {}
        majority = (_get(stage, "baselines", "majority") if evaluation else _get(metrics, "baselines", "majority")) or {}
        families = _get(stage, "metrics", "task_accuracy", "per_family") or {}
        model = stage.get("model") or {}
        runs.append({
            "run": path.name, "recipe": metrics.get("recipe"), "model": model.get("name") or model.get("loader"),
            "parameters": model.get("parameters"), "split": stage.get("split"), "examples": stage.get("num_examples"),
            "accuracy": overall.get("micro"), "macro_accuracy": overall.get("macro"),
            "base_accuracy": None if evaluation else _get(metrics, "base", "metrics", "task_accuracy", "overall", "micro"),
            "majority_accuracy": _get(majority, "metrics", "task_accuracy", "overall", "micro"),
            "format_errors": overall.get("format_errors"),
            "families": {family: v.get("macro") for family, v in families.items()},
        })
        for task, v in (_get(stage, "metrics", "task_accuracy", "per_task") or {}).items():
            tasks.setdefault(task, {})[path.name] = v.get("accuracy")
    runs.sort(key=lambda r: (r["parameters"] is None, r["parameters"] or 0, r["run"]))
    return {"runs": runs, "tasks": dict(sorted(tasks.items()))}


def render_comparison(comparison: dict, fmt: str = "markdown") -> str:
    """The comparison as a Markdown table (plus per-task table), CSV, or JSON."""
    runs = comparison["runs"]
    if fmt == "json":
        return json.dumps(comparison, indent=2)
    families = sorted({f for r in runs for f in r["families"]})
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["run", "recipe", "model", "parameters", "split", "examples", "accuracy", "macro_accuracy",
                         "base_accuracy", "majority_accuracy", "format_errors", *families])
        for r in runs:
            writer.writerow([r["run"], r["recipe"], r["model"], r["parameters"], r["split"], r["examples"],
                             r["accuracy"], r["macro_accuracy"], r["base_accuracy"], r["majority_accuracy"],
                             r["format_errors"], *[r["families"].get(f) for f in families]])
        return out.getvalue()
    header = ["run", "model", "parameters", "split", "n", "accuracy %", "macro %", "base %", "majority %",
              "format errors", *[f"{f} %" for f in families]]
    rows = [[r["run"], r["model"] or "–", _params(r["parameters"]), r["split"] or "–", _num(r["examples"]),
             _pct(r["accuracy"]), _pct(r["macro_accuracy"]), _pct(r["base_accuracy"]), _pct(r["majority_accuracy"]),
             _num(r["format_errors"]), *[_pct(r["families"].get(f)) for f in families]] for r in runs]
    text = _table(header, rows) + "\n"
    if comparison["tasks"]:
        names = [r["run"] for r in runs]
        task_rows = [[task, *[_pct(by_run.get(name)) for name in names]] for task, by_run in comparison["tasks"].items()]
        text += "\nAccuracy % per task:\n\n" + _table(["task", *names], task_rows) + "\n"
    return text


# --- commands ------------------------------------------------------------------------------


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
def report_command(run_dir):
    """Rebuild RUN_DIR's report.md and plots from its metrics.json."""
    path = write_report(run_dir)
    click.echo(f"report: {path}")


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--evaluation", default=None, metavar="LABEL",
              help="Compare the `odin eval` results named LABEL (e.g. a frozen evaluation set) instead of each run's own test split.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv", "json"]), default="markdown", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to a file instead of the terminal.")
def compare_command(run_dirs, evaluation, fmt, output):
    """Put several runs side by side, smallest model first (model size vs accuracy)."""
    text = render_comparison(compare_runs(run_dirs, evaluation), fmt)
    if output:
        from odin_core.rundir import atomic_write_text

        atomic_write_text(output, text)
        click.echo(f"comparison: {output}")
    else:
        click.echo(text, nl=False)
