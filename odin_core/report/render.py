"""``report.md``: tables with 95% intervals and paired significance tests, plots, evaluator sections, failures.

``write_report(run_dir)`` reads ``metrics.json`` (stage records), ``metrics.jsonl``
(training loss, validation accuracy during training) and ``predictions-*.jsonl`` (per-row outcomes) and writes
``report.md``, ``loss.png``, ``training_accuracy.png`` and ``task_accuracy.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

from odin_core.components.plugins import get_component
from odin_core.foundation.errors import OdinError
from odin_core.foundation.files import atomic_write_text, read_jsonl
from odin_core.foundation.layout import METRICS_LOG, REPORT_FILE, RL_METRICS_LOG, predictions_file
from odin_core.foundation.records import ACCURACY_EVALUATOR, task_accuracy
from odin_core.foundation.stats import minimum_detectable_difference
from odin_core.report.failures import failures_section
from odin_core.report.generalisation import generalisation_section
from odin_core.report.heuristics import heuristic_cells, heuristic_header, heuristic_note
from odin_core.report.plots import plot_loss, plot_rl, plot_task_accuracy, plot_training_accuracy
from odin_core.report.significance import ALPHA, stage_comparisons
from odin_core.report.tables import delta, get, interval, load_metrics, num, p_value, params, pct, run_path, table

#: (label, predictions file) of the stages a run report compares
#: (metrics key under "prompted", label) of the prompted stages, in report order
PROMPTED_STAGES = (("zero_shot", "zero-shot"), ("k_shot", "k-shot"), ("hyper_bag", "Hyper-BAG"),
                   ("hyper_cot", "Hyper-COT"))
STAGE_FILES = {"base": predictions_file("base"), "zero-shot": predictions_file("zero_shot"),
               "k-shot": predictions_file("k_shot"), "Hyper-BAG": predictions_file("hyper_bag"),
               "Hyper-COT": predictions_file("hyper_cot"), "trained": predictions_file("trained"),
               "after RL": predictions_file("rl"),
               "majority": predictions_file("baseline-majority"), "learned": predictions_file("baseline-learned"),
               "shortcut": predictions_file("baseline-shortcut")}
#: the paired comparisons a run report tests: (label, first stage, second stage)
COMPARISONS = (("trained vs base", "trained", "base"), ("trained vs zero-shot", "trained", "zero-shot"),
               ("trained vs k-shot", "trained", "k-shot"), ("trained vs majority", "trained", "majority"),
               ("trained vs shortcut", "trained", "shortcut"), ("after RL vs trained", "after RL", "trained"),
               ("after RL vs majority", "after RL", "majority"), ("after RL vs shortcut", "after RL", "shortcut"),
               ("trained vs Hyper-BAG", "trained", "Hyper-BAG"), ("trained vs Hyper-COT", "trained", "Hyper-COT"),
               ("k-shot vs zero-shot", "k-shot", "zero-shot"), ("Hyper-BAG vs k-shot", "Hyper-BAG", "k-shot"),
               ("Hyper-COT vs k-shot", "Hyper-COT", "k-shot"), ("base vs majority", "base", "majority"))


def stages_of(metrics: dict) -> list[tuple[str, dict]]:
    """(label, stage record) of base, prompted, trained, after RL and the baselines (majority, learned,
    shortcut), where present."""
    stages = []
    if isinstance(metrics.get("base"), dict):
        stages.append(("base", metrics["base"]))
    for key, label in PROMPTED_STAGES:
        record = get(metrics, "prompted", key)
        if isinstance(record, dict) and record.get("num_examples"):
            stages.append((label, record))
    if isinstance(metrics.get("trained"), dict):
        stages.append(("trained", metrics["trained"]))
    if isinstance(metrics.get("rl"), dict):
        stages.append(("after RL", metrics["rl"]))
    for key in ("majority", "learned", "shortcut"):  # shortcut: per task the better of majority and learned
        if isinstance(get(metrics, "baselines", key), dict):
            stages.append((key, metrics["baselines"][key]))
    return stages


def comparisons(run_dir: Path, metrics: dict) -> dict[str, dict]:
    """Paired tests between the run's stages (trained vs base, trained vs majority, ...) on the same rows."""
    present = {label for label, _ in stages_of(metrics)}
    pairs = [(label, STAGE_FILES[a], STAGE_FILES[b]) for label, a, b in COMPARISONS if a in present and b in present]
    return stage_comparisons(run_dir, pairs)


# --- sections ----------------------------------------------------------------------


def _summary_section(metrics: dict, tests: dict) -> list[str]:
    rows = []
    for label, stage in stages_of(metrics):
        overall = task_accuracy(stage).get("overall") or {}
        perplexity = get(stage, "metrics", "metrics.perplexity", "perplexity") or get(stage, "metrics", "perplexity",
                                                                                        "perplexity")
        rows.append([label, num(stage.get("num_examples")), pct(overall.get("micro")), interval(overall.get("ci95")),
                     pct(overall.get("macro")), interval(overall.get("macro_ci95")),
                     num(overall.get("format_errors")), num(perplexity, 2)])
    lines = ["## Summary", "",
             table(["stage", "examples", "accuracy % (micro)", "95% CI", "accuracy % (macro over tasks)",
                    "95% CI (bootstrap)", "format errors", "validation perplexity"], rows), ""]
    if tests:
        test_rows = []
        for label, result in tests.items():
            o = result["overall"]
            verdict = "yes" if not o["marker"] else "no (n.s.)"
            test_rows.append([label, num(o["n"]), f"{100 * o['difference']:+.1f}", num(o["only_a"]), num(o["only_b"]),
                              p_value(o["p_value"]), verdict])
        lines += ["### Paired comparisons", "",
                  f"Exact McNemar test on the same rows: the difference in accuracy points, the rows only the first "
                  f"got right and only the second got right, and whether the difference is significant at "
                  f"{int(ALPHA * 100)}%.", "",
                  table(["comparison", "rows", "Δ points", "only first right", "only second right", "p",
                         "significant"], test_rows), ""]
    return lines


#: where Hyper-BAG and Hyper-COT come from
LLM4H = "LLM4Hypergraph's technique, ICLR 2025, in Odin's words"


def _prompted_note(metrics: dict) -> list[str]:
    prompted = metrics.get("prompted") or {}
    if "skipped" in prompted:
        return [f"Prompted stages skipped: {prompted['skipped']}.", ""]
    notes = []
    for key, label in PROMPTED_STAGES:
        info = get(prompted, key, "prompting")
        if info:
            note = (f"{label}: reasons before answering ({LLM4H})" if info.get("reasons_first") else
                    f"{label}: {info['shots']} worked examples from the training split")
            if info.get("skipped_over_context"):
                note += f", {info['skipped_over_context']} rows skipped (prompt longer than the model's context)"
            if info.get("rows_with_fewer_shots"):
                note += f", {info['rows_with_fewer_shots']} rows with fewer shots (too few training rows of their kind)"
            notes.append(note)
    if not notes:
        return []
    return ["Prompted stages ask the base model through its chat template with an instruction; " + "; ".join(notes)
            + ". Paired tests against them use the rows both stages evaluated.", ""]


def _sizing_note(metrics: dict) -> list[str]:
    per_task = task_accuracy(metrics.get("trained") or metrics.get("base") or {}).get("per_task") or {}
    if not per_task:
        return []
    ns = sorted(v.get("n", 0) for v in per_task.values())
    median = ns[len(ns) // 2]
    total = sum(ns)
    return [f"With {median} rows per task (median) and {total} in all, differences smaller than about "
            f"**{100 * minimum_detectable_difference(median):.0f} points** per task and "
            f"**{100 * minimum_detectable_difference(total):.0f} points** overall cannot be detected reliably "
            "(80% power, 5% level, accuracies near 50%). Per-task p-values are Holm-corrected over the tasks.", ""]


def _task_test(tests: dict, label: str, task: str) -> str:
    entry = get(tests, label, "per_task", task)
    if not entry:
        return "–"
    return p_value(entry["p_adjusted"]) + (f" {entry['marker']}" if entry["marker"] else "")


def _per_task_section(metrics: dict, tests: dict) -> list[str]:
    per = {label: task_accuracy(stage).get("per_task") or {} for label, stage in stages_of(metrics)}
    tasks = sorted({t for p in per.values() for t in p})
    if not tasks:
        return []
    rows = []
    for task in tasks:
        info = next((p[task] for p in per.values() if task in p), {})
        acc = {label: get(p, task, "accuracy") for label, p in per.items()}
        ci = {label: get(p, task, "ci95") for label, p in per.items()}
        errors = "/".join(num(get(per.get(label, {}), task, "format_errors")) for label in ("base", "trained")
                          if label in per)
        prompted = [pct(acc.get(label)) for _, label in PROMPTED_STAGES if label in per]
        rows.append([task, info.get("family") or "–", num(info.get("n")), pct(acc.get("base")), *prompted,
                     pct(acc.get("trained")), interval(ci.get("trained") or ci.get("base")),
                     delta(acc.get("trained"), acc.get("base")), _task_test(tests, "trained vs base", task),
                     pct(acc.get("majority")), delta(acc.get("trained"), acc.get("majority")),
                     _task_test(tests, "trained vs majority", task), pct(acc.get("learned")),
                     pct(acc.get("shortcut")), delta(acc.get("trained"), acc.get("shortcut")),
                     _task_test(tests, "trained vs shortcut", task), errors or "–",
                     *([pct(acc.get("after RL")), delta(acc.get("after RL"), acc.get("trained")),
                        _task_test(tests, "after RL vs trained", task)] if "after RL" in per else []),
                     *heuristic_cells(metrics, task)])
    prompted_header = [f"{label} %" for _, label in PROMPTED_STAGES if label in per]
    rl_header = ["after RL %", "Δ after RL−trained", "p (vs trained)"] if "after RL" in per else []
    header = ["task", "family", "n", "base %", *prompted_header, "trained %", "trained 95% CI", "Δ trained−base",
              "p (vs base)", "majority %", "Δ trained−majority", "p (vs majority)", "learned baseline %",
              "shortcut %", "Δ trained−shortcut", "p (vs shortcut)", "format errors (base/trained)", *rl_header,
              *heuristic_header(metrics)]
    return ["## Accuracy per task", "", table(header, rows), "",
            "p: exact McNemar test on the task's rows, Holm-corrected over tasks; n.s. = not significant at 5%. "
            "Learned baseline: a classifier over cheap features of each question (sizes, degrees, components, ids, "
            "source, what the question names), fitted on the training split; shortcut: per task the better of "
            "majority and learned baseline on these rows, the baseline the trained model must beat.", "",
            *heuristic_note(metrics)]


def _grouped_section(metrics: dict, key: str, title: str) -> list[str]:
    per = {label: task_accuracy(stage).get(key) or {} for label, stage in stages_of(metrics)}
    groups = sorted({g for p in per.values() for g in p})
    if not groups:
        return []
    rows = []
    for group in groups:
        acc = {label: get(p, group, "accuracy") for label, p in per.items()}
        ci = {label: get(p, group, "ci95") for label, p in per.items()}
        n = next((get(p, group, "n") for p in per.values() if group in p), None)
        prompted = [pct(acc.get(label)) for _, label in PROMPTED_STAGES if label in per]
        rows.append([group, num(n), pct(acc.get("base")), interval(ci.get("base")), *prompted, pct(acc.get("trained")),
                     interval(ci.get("trained")), delta(acc.get("trained"), acc.get("base")), pct(acc.get("majority"))])
    prompted_header = [f"{label} %" for _, label in PROMPTED_STAGES if label in per]
    return [f"## Accuracy per {title}", "",
            table([title, "n", "base %", "base 95% CI", *prompted_header, "trained %", "trained 95% CI",
                   "Δ trained−base", "majority %"], rows), ""]


def _flatten(metrics, prefix="", depth=2) -> dict:
    flat = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, bool) or isinstance(value, (int, float)):
            flat[name] = value
        elif isinstance(value, dict) and depth > 1:
            flat.update(_flatten(value, name + ".", depth - 1))
    return flat


def generic_section(name: str, per_stage: dict[str, dict]) -> str | None:
    """An evaluator's top-level numbers per stage, for evaluators without a ``report_section``."""
    flat = {label: _flatten(m) for label, m in per_stage.items()}
    columns = list(dict.fromkeys(k for f in flat.values() for k in f))[:12]
    if not columns:
        return None
    rows = [[label, *[num(f.get(c)) for c in columns]] for label, f in flat.items()]
    return "\n".join([f"## {name}", "", table(["stage", *columns], rows), ""])


def evaluator_sections(metrics: dict) -> list[str]:
    """Each evaluator's own section (its ``report_section``), or the generic table; task accuracy is the core's."""
    stages = stages_of(metrics)
    if isinstance(get(metrics, "baselines", "constant_set"), dict):
        stages.append(("best constant set", metrics["baselines"]["constant_set"]))
    names = list(dict.fromkeys(n for _, s in stages for n in (s.get("metrics") or {})))
    lines = []
    for name in names:
        if name in (ACCURACY_EVALUATOR, "task_accuracy"):
            continue
        per_stage = {label: s["metrics"][name] for label, s in stages if name in (s.get("metrics") or {})}
        text = None
        try:
            evaluator = get_component("evaluator", name).create(None)
        except OdinError:  # the plugin is gone: its numbers still show
            evaluator = None
        if evaluator is not None and hasattr(evaluator, "report_section"):
            text = evaluator.report_section(per_stage)
        else:
            text = generic_section(name, per_stage)
        if text:
            lines += [text.rstrip(), ""]
    return lines


def _seeds_section(metrics: dict) -> list[str]:
    seeds = metrics.get("seeds")
    if not seeds:
        return []
    rows = []
    for key, label in (("trained", "trained accuracy % (micro)"), ("trained_macro", "trained accuracy % (macro)"),
                       ("base", "base accuracy % (micro)")):
        entry = seeds.get("summary", {}).get(key)
        if entry:
            spread = "–" if entry["std"] is None else f"{100 * entry['std']:.1f}"
            rows.append([label, f"{100 * entry['mean']:.1f}", spread, num(len(entry["values"])),
                         ", ".join(pct(v) for v in entry["values"])])
    return ["## Across seeds", "",
            f"Training repeated with seeds {', '.join(str(s) for s in seeds['seeds'])} on the same data split; "
            "the tables above are the first seed's run.", "",
            table(["metric", "mean", "std (across seeds)", "runs", "per seed"], rows), ""]


def _evaluations_section(metrics: dict) -> list[str]:
    evaluations = metrics.get("evaluations") or {}
    if not evaluations:
        return []
    lines = ["## Other evaluations (`odin eval`)", ""]
    for label, stage in sorted(evaluations.items()):
        overall = task_accuracy(stage).get("overall") or {}
        majority = task_accuracy(get(stage, "baselines", "majority") or {}).get("overall", {}).get("micro")
        lines += [f"### {label}", "",
                  f"Data `{stage.get('data')}`, split `{stage.get('split')}`, {stage.get('num_examples')} examples, "
                  f"{'base model' if stage.get('base_model') else 'trained model'}: accuracy "
                  f"{pct(overall.get('micro'))}% {interval(overall.get('ci95'))} (macro {pct(overall.get('macro'))}%), "
                  f"majority baseline {pct(majority)}%, {num(overall.get('format_errors'))} format errors"
                  + (f"; {stage['generation']['prompts_over_context']} prompts longer than the model's context"
                     if get(stage, "generation", "prompts_over_context") else "") + ".", ""]
        per_task = task_accuracy(stage).get("per_task") or {}
        base_tasks = task_accuracy(get(stage, "baselines", "majority") or {}).get("per_task") or {}
        rows = [[task, num(v.get("n")), pct(v.get("accuracy")), interval(v.get("ci95")),
                 pct(get(base_tasks, task, "accuracy")), num(v.get("format_errors")), *heuristic_cells(stage, task)]
                for task, v in sorted(per_task.items())]
        if rows:
            lines += [table(["task", "n", "accuracy %", "95% CI", "majority %", "format errors",
                             *heuristic_header(stage)], rows), "", *heuristic_note(stage)]
    return lines


def render_report(metrics: dict, path: Path, plots: dict[str, bool], tests: dict | None = None) -> str:
    """The Markdown text of ``report.md``."""
    tests = tests or {}
    trained = metrics.get("trained") or metrics.get("base") or {}
    model = trained.get("model") or {}
    lines = [f"# Odin run report: {metrics.get('recipe', path.name)}", "",
             f"Run directory `{path}`. Evaluated on the **{trained.get('split', '?')}** split "
             f"({trained.get('num_examples', '?')} examples); model {model.get('name') or model.get('loader') or '?'} "
             f"({params(model.get('parameters'))} parameters, {model.get('engine', '?')} engine). "
             f"Accuracy is exact match after parsing the answer after `Ans`; a format error is an answer that "
             f"cannot be read and counts as wrong. Intervals are 95%: Wilson for accuracies, bootstrap over rows "
             f"(resampled within tasks) for macro averages.", ""]
    over = get(trained, "generation", "prompts_over_context")
    if over:
        lines += [f"**Warning:** {over} prompts plus their answer budget are longer than the model's context.", ""]
    lines += _summary_section(metrics, tests)
    lines += _prompted_note(metrics)
    lines += _sizing_note(metrics)
    if plots.get("task_accuracy"):
        lines += ["![accuracy per task](task_accuracy.png)", ""]
    lines += _per_task_section(metrics, tests)
    lines += _grouped_section(metrics, "per_family", "family")
    lines += _grouped_section(metrics, "per_encoding", "encoding")
    lines += generalisation_section(metrics)
    lines += evaluator_sections(metrics)
    lines += _seeds_section(metrics)
    lines += ["## Training", ""]
    training = metrics.get("training") or {}
    if training:
        lines += [table(["key", "value"], [[k, num(v) if not isinstance(v, (dict, list)) else json.dumps(v)]
                                           for k, v in training.items()]), ""]
    lines += ["![loss curve](loss.png)" if plots.get("loss") else "No training loss was logged (metrics.jsonl).", ""]
    if plots.get("loss") and training.get("answer_distribution_loss") is not None:
        lines += [f"Dashed line: the loss of a model that knows only each task's answer distribution "
                  f"({training['answer_distribution_loss']:.3f} per supervised token): a training loss that stays "
                  "there has learned nothing beyond what each task usually answers.", ""]
    if plots.get("training_accuracy"):
        lines += ["![validation accuracy during training](training_accuracy.png)", ""]
    stopping = training.get("early_stopping") or {}
    if stopping.get("best_step") is not None:
        lines += [f"Early stopping on `{stopping['metric']}` (patience {stopping['patience']}): the trained model is "
                  f"step {stopping['best_step']}'s ({stopping['metric']} {num(stopping['best_value'])})"
                  + (f"; training stopped early at step {training.get('steps')}." if stopping.get("stopped_early")
                     else "."), ""]
    lines += _rl_section(metrics, plots)
    lines += _evaluations_section(metrics)
    lines += failures_section(path)
    return "\n".join(lines).rstrip() + "\n"


def _rl_section(metrics: dict, plots: dict) -> list[str]:
    summary = metrics.get("rl_training") or {}
    if not summary:
        return []
    lines = ["## Reinforcement learning (after RL)", "",
             f"{summary.get('method', 'grpo').upper()} for {num(summary.get('steps'))} steps on "
             f"{num(summary.get('questions_seen'))} questions ({num(summary.get('completions_sampled'))} sampled "
             f"completions), rewards: " + ", ".join(f"{r['name']} x {r['weight']:g}" for r in summary.get("rewards", []))
             + f". Mean reward per logging step: first {num(summary.get('first_reward'), 3)}, last "
             f"{num(summary.get('last_reward'), 3)}; final KL {num(summary.get('final_kl'), 4)}. The \"after RL\" stage "
             "above is this model on the same rows; \"after RL vs trained\" is the paired test of the RL stage.", ""]
    if plots.get("rl"):
        lines += ["![reward, KL and completion length during the RL stage](rl.png)", ""]
    return lines


def write_report(run_dir) -> Path:
    """Write ``report.md`` and its plots into the run directory from ``metrics.json``; returns the report's path."""
    path = run_path(run_dir)
    metrics = load_metrics(path)
    records = read_jsonl(path / METRICS_LOG)
    best_step = ((metrics.get("training") or {}).get("early_stopping") or {}).get("best_step")
    reference = (metrics.get("training") or {}).get("answer_distribution_loss")
    plots = {"loss": plot_loss(records, path / "loss.png", reference),
             "rl": plot_rl(read_jsonl(path / RL_METRICS_LOG), path / "rl.png"),
             "training_accuracy": plot_training_accuracy(records, path / "training_accuracy.png", best_step),
             "task_accuracy": plot_task_accuracy(stages_of(metrics), path / "task_accuracy.png")}
    target = path / REPORT_FILE
    atomic_write_text(target, render_report(metrics, path, plots, comparisons(path, metrics)))
    return target


__all__ = ["comparisons", "evaluator_sections", "generic_section", "render_report", "stages_of", "write_report"]
