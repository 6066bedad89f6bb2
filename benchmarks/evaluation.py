"""Evaluation: batched generation against one example at a time, fp32 against bf16 autocast, time after the answer.

    python -m benchmarks.evaluation [--toy] [--out DIR]

Two models on the same rows of the quickstart's test split: SmolLM2-135M-Instruct
(real weights, ``recipes/smollm2_135m.toml``, chat template) and the quickstart's
scratch model (untrained). Each model runs Odin's evaluation path
(``answer_budgets``, ``prompt_and_completion``, ``inference_mode``, ``generate``)
with fp32 weights, batched and with batch size 1, then batched under
``torch.autocast(bfloat16)`` where the CPU has bf16. A stopping criterion added
only for the measurement records when each decoding step ends, so the time spent
on tokens after a row's first ``]`` (its answer's closing bracket) is measured:
within a batch a step's time is shared by its rows.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import Timer, finish, parser, table

QUICKSTART = "recipes/quickstart.toml"
SMOLLM2 = "recipes/smollm2_135m.toml"
#: rows per model, and SmolLM2's longest prompt (approximate tokens): the CPU forward dominates its time
SIZES = {
    "full": {"scratch": 48, "smollm2": 6, "smollm2_max_tokens": 200, "train": 1000, "test": 136},
    "toy": {"scratch": 4, "smollm2": 1, "smollm2_max_tokens": 120, "train": 300, "test": 34},
}
#: the quickstart's data section, shared by both models, with its own small test split; prompts counted as
#: builder version 3 did (data.token_count = "estimate"), so the rows and the sizes above stay those measured
DATA = ["data.frozen_eval=''", "data.num_examples.validation=0", "data.max_prompt_tokens=400",
        'data.encodings=["hypernetx.n_set", "hypernetx.n_pair"]', "data.token_count=estimate"]


def load_rows(size: dict):
    """(test rows, training texts) of the quickstart's data at this size."""
    from odin_core.data import build_dataset
    from odin_core.recipe import load_recipe

    recipe = load_recipe(QUICKSTART, DATA + [f"data.num_examples.train={size['train']}",
                                             f"data.num_examples.test={size['test']}"])
    dataset, _ = build_dataset(recipe)
    texts = [row["prompt"] + row["completion"] for row in dataset["train"]]
    return dataset["test"].to_list(), texts


def load_model(recipe_path: str, folder: Path, train_texts):
    """The recipe's base model, as a run loads it (the scratch model is built in ``folder``)."""
    from odin_core.components.plugins import get_component, get_engine
    from odin_core.components.protocols import LoadSettings
    from odin_core.recipe import load_recipe
    from odin_core.runtime.rundir import RunDir

    recipe = load_recipe(recipe_path, DATA)
    get_engine(recipe.training.engine).prepare(recipe)  # Unsloth patches transformers before the loader imports it
    folder.mkdir(parents=True, exist_ok=True)
    loader = get_component("model_loader", recipe.model.loader).create(recipe.model.options)
    return loader.load(recipe.model, LoadSettings(), RunDir(folder, recipe), iter(train_texts))


class _StepClock:
    """A stopping criterion that never stops: it records when each decoding step ends."""

    def __init__(self):
        self.times: list[float] = []

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def _timed_generate(model, calls: list):
    """``model.generate`` that also records, per call, its start, step end times, output and prompt width."""
    original = model.generate

    def generate(*args, **kwargs):
        from transformers import StoppingCriteriaList

        clock = _StepClock()
        kwargs["stopping_criteria"] = StoppingCriteriaList([*(kwargs.get("stopping_criteria") or []), clock])
        start = time.perf_counter()
        out = original(*args, **kwargs)
        calls.append({"start": start, "steps": clock.times, "out": out, "width": kwargs["input_ids"].shape[1]})
        return out

    return generate


def after_answer_seconds(tokenizer, calls: list) -> dict:
    """Seconds and tokens spent after each row's first ``]`` (``answer``) and after its end, that ``]`` or
    end-of-sequence (``end``: what batching pads), over every generate call.

    A step's time is divided among the rows of its batch; a row's steps after the
    one that wrote its first ``]`` (or end-of-sequence) count, padding included."""
    stops = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    totals = {"answer_seconds": 0.0, "answer_tokens": 0, "end_seconds": 0.0, "end_tokens": 0}
    for call in calls:
        new = call["out"][:, call["width"]:].tolist()
        ends = [call["start"], *call["steps"]]
        durations = [b - a for a, b in zip(ends, ends[1:])]
        for row in new:
            close = next((k for k in range(len(row))
                          if "]" in tokenizer.decode(row[:k + 1], skip_special_tokens=True)), None)
            end = next((k for k in range(len(row)) if row[k] in stops), None)
            for key, k in (("answer", close), ("end", min((x for x in (close, end) if x is not None), default=None))):
                if k is not None:
                    totals[f"{key}_seconds"] += sum(durations[k + 1:]) / len(new)
                    totals[f"{key}_tokens"] += len(row) - k - 1
    return totals


def generate_rows(loaded, rows, batch_size: int, bf16: bool = False) -> dict:
    """Odin's evaluation generation over ``rows``: answers, seconds, time after the answers' brackets."""
    import contextlib

    import torch

    from odin_core.evaluate.generation import answer_budgets, generate, inference_mode
    from odin_core.foundation.records import decode
    from odin_core.questions.answers import is_correct, parse_answer
    from odin_core.runtime.chat import model_uses_chat, prompt_and_completion

    chat = model_uses_chat(loaded)
    calls: list = []
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with Timer() as t:
        budgets = answer_budgets(loaded, rows, chat)
        prompts = [prompt_and_completion(loaded.tokenizer, row, chat)[0] for row in rows]
        with inference_mode(loaded), autocast:
            loaded.model.generate = _timed_generate(loaded.model, calls)
            try:
                answers = generate(loaded, prompts, [budgets[row["task"]] for row in rows], batch_size)
            finally:
                del loaded.model.generate
    after = after_answer_seconds(loaded.tokenizer, calls)
    correct = sum(is_correct(row["answer_kind"], parse_answer(row["answer_kind"], text), decode(row["answer"]))
                  for row, text in zip(rows, answers))
    return {"batch_size": batch_size, "bf16_autocast": bf16, "rows": len(rows), "seconds": t.seconds,
            "examples_per_second": len(rows) / t.seconds, **after,
            "after_answer_share": after["answer_seconds"] / t.seconds,
            "after_end_share": after["end_seconds"] / t.seconds,
            "generated_tokens": sum(c["out"].shape[0] * (c["out"].shape[1] - c["width"]) for c in calls),
            "correct": correct, "answers": answers}


def identical(a: list[str], b: list[str]) -> float:
    return sum(x == y for x, y in zip(a, b)) / len(a)


def measure_model(loaded, rows, batch_size: int) -> dict:
    """Batched and one-at-a-time in fp32, then batched under bf16 autocast (where the CPU has bf16)."""
    from odin_core.runtime.machine import cpu_bf16

    loaded.model.float()
    generate_rows(loaded, rows[:1], 1)  # warm-up: the first call pays one-time costs
    batched = generate_rows(loaded, rows, batch_size)
    single = generate_rows(loaded, rows, 1)
    result = {"batched_fp32": batched, "single_fp32": single,
              "ratio_batched_over_single": batched["examples_per_second"] / single["examples_per_second"],
              "batched_vs_single_identical": identical(batched["answers"], single["answers"])}
    if cpu_bf16():
        bf16 = generate_rows(loaded, rows, batch_size, bf16=True)
        result.update(batched_bf16=bf16, ratio_bf16_over_fp32=bf16["examples_per_second"] / batched["examples_per_second"],
                      bf16_vs_fp32_identical=identical(bf16["answers"], batched["answers"]))
    else:
        result["bf16_skipped"] = "this CPU has no bf16 instructions (odin_core.runtime.machine.cpu_bf16)"
    return result


def run(toy: bool, folder: Path) -> dict:
    size = SIZES["toy" if toy else "full"]
    rows, texts = load_rows(size)
    short = [row for row in rows if _prompt_tokens(row) <= size["smollm2_max_tokens"]]
    models = {}
    scratch = load_model(QUICKSTART, folder / "scratch", texts)
    models["scratch"] = {"recipe": QUICKSTART, **measure_model(scratch, rows[:size["scratch"]], 32)}
    del scratch
    smollm2 = load_model(SMOLLM2, folder / "smollm2", texts)
    models["smollm2-135m-instruct"] = {"recipe": SMOLLM2, **measure_model(smollm2, short[:size["smollm2"]], 8)}
    return {"models": models}


def _prompt_tokens(row) -> int:
    from odin_core.foundation.records import decode

    return int(decode(row["meta"], {}).get("prompt_tokens", 0))


def report_table(result: dict) -> str:
    lines = []
    for name, m in result["models"].items():
        b, s = m["batched_fp32"], m["single_fp32"]
        lines += [
            [name, "ratio batched / one at a time", f"{m['ratio_batched_over_single']:.2f}x"],
            [name, "ratio bf16 autocast / fp32",
             f"{m['ratio_bf16_over_fp32']:.2f}x" if "ratio_bf16_over_fp32" in m else "not run"],
            [name, "identical answers bf16 vs fp32",
             f"{m['bf16_vs_fp32_identical']:.0%}" if "bf16_vs_fp32_identical" in m else "not run"],
            [name, "identical answers batched vs one at a time", f"{m['batched_vs_single_identical']:.0%}"],
            [name, f"batched (batch {b['batch_size']}) examples/s", f"{b['examples_per_second']:.2f}"],
            [name, "one at a time examples/s", f"{s['examples_per_second']:.2f}"],
            [name, "share of time after the answer's ] (batched)", f"{b['after_answer_share']:.1%}"],
            [name, "share of time after the answer's ] (one at a time)", f"{s['after_answer_share']:.1%}"],
            [name, "share of time after the row's end, ] or EOS (batched)", f"{b['after_end_share']:.1%}"],
            [name, "rows (correct, fp32 batched)", f"{b['rows']} ({b['correct']})"],
        ]
    return table(["model", "measure", "value"], lines)


def main(argv=None) -> dict:
    import tempfile

    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="odin-bench-eval-") as folder:
        result = run(args.toy, Path(folder))
    return finish("evaluation", result, args, report_table(result))


if __name__ == "__main__":
    main()
