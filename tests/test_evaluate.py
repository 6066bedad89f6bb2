"""The evaluation flow on a tiny local model: batched generation, scores, loss, evaluate_model, baselines."""

import json
import math
import subprocess
import sys
import textwrap

import pytest

from odin_core.components.protocols import LoadedModel
from odin_core.evaluate import (
    EvalContext,
    ModelRunner,
    completion_logprobs,
    end_of_answer,
    evaluate_model,
    generate,
    inference_mode,
    select_examples,
    trivial_baselines,
)
from odin_core.evaluate.generation import answer_budgets
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.questions.answers import format_answer
from odin_core.recipe import check_evaluator_columns, validate
from odin_core.runtime.device import parameter_count
from conftest import MINIMAL_RECIPE

# --- a tiny dataset and model --------------------------------------------------------------


def make_row(i, task, kind, answer, prompt, family="low_order", encoding="n_set", meta=None):
    return {"id": f"{task}-{i}", "prompt": prompt, "completion": " " + format_answer(kind, answer), "task": task,
            "family": family, "encoding": encoding, "answer_kind": kind, "answer": json.dumps(answer),
            "graph_id": f"g{i}", "generator": json.dumps({"seed": i}), "meta": json.dumps(meta or {})}


def tiny_rows(n=24, offset=0):
    """Rows of five tasks whose answers follow from the prompt text."""
    rows = []
    for k in range(offset, offset + n):
        edges = [(f"v{(k + j) % 7}", f"v{(k + 2 * j + 1) % 7}") for j in range(1 + k % 3)]
        text = "G: " + " ".join(f"({a}, {b})" for a, b in edges) + "."
        encoding = "n_set" if k % 2 else "n_pair"
        task = k % 5
        if task == 0:
            rows.append(make_row(k, "edge_count", "count", len(edges), f"{text} Q: How many hyperedges?", encoding=encoding))
        elif task == 1:
            a, b = edges[0]
            rows.append(make_row(k, "connection", "yes_no", k % 4 == 1, f"{text} Q: Is {a} connected to {b}?",
                                 encoding=encoding))
        elif task == 2:
            a, b = edges[0]
            rows.append(make_row(k, "shared", "vertex_set", sorted({a, b}), f"{text} Q: Which vertices are in e0?",
                                 family="high_order", encoding=encoding))
        elif task == 3:
            rows.append(make_row(k, "path", "path_length", None if k % 2 else 1, f"{text} Q: Path from v0 to v6?",
                                 encoding=encoding))
        else:
            scheme = ["positive", "SNS", "MNS", "CNS"][(k // 5) % 4]
            rows.append(make_row(k, "hyperedge_discrimination", "yes_no", scheme == "positive",
                                 f"{text} Q: Was {{v1, v2}} removed?", family="hyperedge_prediction",
                                 encoding=encoding, meta={"negative_scheme": scheme}))
    return rows


def build_tiny_model(texts, seed=0, hidden=64):
    """A 2-layer Llama and a byte-level BPE tokenizer trained on ``texts``: the scratch loader's builders."""
    from odin_models import ScratchOptions
    from odin_models.scratch import build_model, train_tokenizer

    tokenizer = train_tokenizer(texts, vocab_size=400, max_length=1024)
    options = ScratchOptions(num_layers=2, hidden_size=hidden, num_heads=4, vocab_size=400)
    return build_model(options, tokenizer, max_length=1024, seed=seed), tokenizer


def fit(model, tokenizer, rows, steps=80):
    """Teach the model the rows' completions (plain PyTorch, loss on completions: a few seconds)."""
    import torch

    texts = [r["prompt"] + r["completion"] + tokenizer.eos_token for r in rows]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for i, r in enumerate(rows):
        labels[i, : len(tokenizer(r["prompt"])["input_ids"])] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return float(loss.detach())


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def rows():
    return tiny_rows(30)


@pytest.fixture(scope="module")
def random_model(rows):
    model, tokenizer = build_tiny_model([r["prompt"] + r["completion"] for r in rows] * 5)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, engine="transformers")


@pytest.fixture(scope="module")
def trained_model(rows):
    model, tokenizer = build_tiny_model([r["prompt"] + r["completion"] for r in rows] * 5, seed=1)
    loss = fit(model, tokenizer, rows)
    assert loss < 0.2, loss
    return LoadedModel(model=model, tokenizer=tokenizer, engine="transformers")


def recipe_for(**generation):
    data = {"name": "eval-test", "seed": 3, "model": {"loader": "models.scratch"},
            "data": {"sources": [{"name": "none"}], "encodings": ["n_set"]},
            "generation": {"batch_size": 4, **generation}}
    return validate(data, check_components=False)


# --- generation --------------------------------------------------------------------------------


def test_batched_generation_equals_one_at_a_time(random_model, rows):
    prompts = [r["prompt"] for r in rows[:9]]
    budgets = [6, 6, 9, 9, 6, 12, 6, 9, 6]
    with inference_mode(random_model):
        batched = generate(random_model, prompts, budgets, batch_size=4)
        single = [generate(random_model, [p], b, batch_size=1)[0] for p, b in zip(prompts, budgets)]
    assert batched == single
    assert len(set(batched)) > 1  # really different prompts and budgets


def test_trained_model_generates_the_canonical_answers_batched(trained_model, rows):
    with inference_mode(trained_model):
        texts = generate(trained_model, [r["prompt"] for r in rows], 16, batch_size=8)
    assert sum(t == r["completion"] for t, r in zip(texts, rows)) >= 0.8 * len(rows)


def test_end_of_answer_cuts_after_the_first_closing_bracket():
    assert end_of_answer(" Ans: [3] Q: more? Ans: [4]") == " Ans: [3]"
    assert end_of_answer(" Ans: [v1, v2") == " Ans: [v1, v2"
    assert end_of_answer("[x] no answer marker") == "[x] no answer marker"


def test_budgets_come_from_the_longest_answer_per_task(random_model, rows):
    budgets = answer_budgets(random_model, rows, chat=False)
    tokenizer = random_model.tokenizer
    longest = max(len(tokenizer(r["completion"], add_special_tokens=False)["input_ids"]) for r in rows
                  if r["task"] == "shared")
    assert budgets["shared"] == math.ceil(1.25 * longest) + 4
    assert set(budgets) == {r["task"] for r in rows}
    assert answer_budgets(random_model, rows, chat=False, fixed=7) == {t: 7 for t in budgets}


# --- scores and loss -----------------------------------------------------------------------------


def test_completion_logprobs_match_a_direct_computation(random_model, rows):
    import torch

    tokenizer, model = random_model.tokenizer, random_model.model
    prompts = [r["prompt"] for r in rows[:6]]
    completions = [r["completion"] for r in rows[:6]]
    with inference_mode(random_model):
        batched = completion_logprobs(random_model, prompts, completions, batch_size=4, add_eos=True)
        for (total, count), prompt, completion in zip(batched, prompts, completions):
            prompt_ids = tokenizer(prompt)["input_ids"]
            ids = tokenizer(prompt + completion)["input_ids"] + [tokenizer.eos_token_id]
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
            expected = sum(float(logprobs[t - 1, ids[t]]) for t in range(len(prompt_ids), len(ids)))
            assert count == len(ids) - len(prompt_ids)
            assert total == pytest.approx(expected, abs=1e-4)


def test_choice_scores_and_loss_of_a_trained_model(trained_model, random_model, rows):
    yes_no = [r for r in rows if r["answer_kind"] == "yes_no"]
    scores = ModelRunner(trained_model, batch_size=4).choice_scores(yes_no)
    assert all((s > 0) == json.loads(r["answer"]) for s, r in zip(scores, yes_no))
    trained_loss = ModelRunner(trained_model, batch_size=4).loss(rows)
    random_loss = ModelRunner(random_model, batch_size=4).loss(rows)
    assert trained_loss["loss"] < 0.5 < random_loss["loss"]
    assert trained_loss["perplexity"] == pytest.approx(math.exp(trained_loss["loss"]))
    assert trained_loss["examples"] == len(rows)


def test_parameter_count_unpacks_4bit_weights(random_model):
    import torch

    class Packed4bit(torch.nn.Parameter):  # what bitsandbytes keeps: two weights per byte, shape in quant_state
        pass

    class Quantised(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = Packed4bit(torch.zeros(32, 1, dtype=torch.uint8), requires_grad=False)
            self.weight.quant_state = type("QuantState", (), {"shape": torch.Size([8, 8])})()
            self.bias = torch.nn.Parameter(torch.zeros(8))

    assert parameter_count(Quantised()) == 64 + 8
    assert parameter_count(random_model.model) == sum(p.numel() for p in random_model.model.parameters())


def test_transformers_engine_restores_training_mode(random_model):
    random_model.model.train()
    with inference_mode(random_model):
        assert not random_model.model.training
    assert random_model.model.training
    random_model.model.eval()


# --- the whole evaluation ---------------------------------------------------------------------------


def test_evaluate_model_writes_predictions_and_metrics(trained_model, rows, tmp_path):
    recipe = recipe_for()
    validation = tiny_rows(10, offset=100)
    record = evaluate_model(recipe, trained_model, rows, tmp_path, stage="trained", loss_split=validation)
    assert record["schema_version"] == 2 and record["stage"] == "trained" and record["num_examples"] == len(rows)
    metrics = record["metrics"]
    assert set(metrics) == {"metrics.task_accuracy", "metrics.hyperedge_set", "metrics.hyperedge_discrimination",
                            "metrics.perplexity"}
    assert metrics["metrics.task_accuracy"]["overall"]["micro"] >= 0.8
    assert metrics["metrics.hyperedge_set"]["n"] == sum(r["task"] == "shared" for r in rows)
    assert metrics["metrics.hyperedge_discrimination"]["per_scheme"]["SNS"]["auroc"] == 1.0
    assert metrics["metrics.perplexity"]["examples"] == 10 and metrics["metrics.perplexity"]["split"] == "validation"
    assert record["model"]["parameters"] == sum(p.numel() for p in trained_model.model.parameters())
    assert record["generation"]["generation_seconds"] > 0
    lines = (tmp_path / "predictions-trained.jsonl").read_text().splitlines()
    predictions = [json.loads(line) for line in lines]
    assert len(predictions) == len(rows) and record["predictions_file"] == "predictions-trained.jsonl"
    assert {"prompt", "expected", "generated", "parsed", "correct", "format_error", "score"} <= set(predictions[0])
    correct = sum(p["correct"] for p in predictions)
    assert correct == metrics["metrics.task_accuracy"]["overall"]["correct"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_evaluate_model_uses_the_recipes_evaluators_and_sample(random_model, rows, tmp_path):
    recipe = recipe_for(max_examples=10)
    recipe.eval = validate({**recipe.resolved(), "eval": [{"name": "metrics.task_accuracy"}]}, check_components=False).eval
    record = evaluate_model(recipe, random_model, rows, tmp_path, stage="base")
    assert list(record["metrics"]) == ["metrics.task_accuracy"] and record["num_examples"] == 10
    assert "prompts_over_context" not in record["generation"]
    tokenizer = random_model.tokenizer
    limit, tokenizer.model_max_length = tokenizer.model_max_length, 24
    try:
        record = evaluate_model(recipe, random_model, rows, tmp_path, stage="base")
    finally:
        tokenizer.model_max_length = limit
    examples = select_examples(rows, 10, recipe.seed)
    budgets = record["generation"]["max_new_tokens"]
    expected = sum(len(tokenizer(r["prompt"])["input_ids"]) + budgets[r["task"]] > 24 for r in examples)
    assert 0 < record["generation"]["prompts_over_context"] == expected
    assert select_examples(rows, 10, recipe.seed) == select_examples(rows, 10, recipe.seed)
    with pytest.raises(DataError, match="no examples"):
        evaluate_model(recipe, random_model, [], tmp_path, stage="base")


def test_chat_template_is_applied_to_message_rows(trained_model, rows, tmp_path):
    tokenizer = trained_model.tokenizer
    tokenizer.chat_template = ("{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}"
                               "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}")
    chat = LoadedModel(model=trained_model.model, tokenizer=tokenizer, engine="transformers", chat_template=True)
    chat_rows = [dict(r, messages=[{"role": "user", "content": r["prompt"]},
                                   {"role": "assistant", "content": r["completion"].strip()}]) for r in rows]
    try:
        context = EvalContext(chat_rows, runner=ModelRunner(chat, batch_size=8))
        plain = EvalContext(rows, runner=ModelRunner(trained_model, batch_size=8))
        # this template renders exactly the plain prompt, so the answers must agree
        assert context.generations == plain.generations
        assert sum(context.correct) >= 0.8 * len(rows)
        # rows without messages (a frozen set) get the builder's user/assistant form
        bare = EvalContext(rows, runner=ModelRunner(chat, batch_size=8))
        assert bare.generations == plain.generations
        assert ModelRunner(chat).loss(rows[:4])["tokens"] == ModelRunner(chat).loss(chat_rows[:4])["tokens"]
    finally:
        tokenizer.chat_template = None


def test_trivial_baselines_use_the_training_split(rows, tmp_path):
    datasets = {"train": tiny_rows(40, offset=200), "test": rows}
    recipe = recipe_for()
    baselines = trivial_baselines(recipe, datasets)
    assert set(baselines) == {"majority", "constant_set"}
    majority = baselines["majority"]
    assert majority["num_examples"] == len(rows)
    per_task = majority["metrics"]["metrics.task_accuracy"]["per_task"]
    # connection answers in training: Yes when k % 4 == 1 among k % 5 == 1 -> mostly No
    assert majority["answers"]["connection"] is False
    expected = sum(1 for r in rows if r["task"] == "connection" and not json.loads(r["answer"]))
    assert per_task["connection"]["correct"] == expected
    assert majority["metrics"]["metrics.hyperedge_discrimination"]["all"]["auroc"] == pytest.approx(0.5)
    assert majority["metrics"]["metrics.perplexity"] == {"skipped": "no model"}
    assert baselines["constant_set"]["num_examples"] == sum(r["task"] == "shared" for r in rows)
    with pytest.raises(DataError, match="training split"):
        trivial_baselines(recipe, {"train": [], "test": rows})


# --- validate-time column check ------------------------------------------------------------------


def test_evaluator_columns_are_checked_at_validate_time(core_plugin, write_recipe):
    import odin_core
    from click.testing import CliRunner

    from odin_core.cli import cli

    class NeedsGold:
        requires_columns = ("prompt", "gold_rationale")

        def __init__(self, options):
            pass

        def evaluate(self, context):
            return {}

    class Plugin:
        @odin_core.hookimpl
        def register_evaluators(self, register):
            register("test.needs_gold", NeedsGold)

    odin_core.register_plugin(Plugin(), name="needs-gold")
    try:
        recipe = recipe_for()
        check_evaluator_columns(recipe)  # the defaults need only dataset columns
        recipe.eval = validate({**recipe.resolved(), "eval": [{"name": "test.needs_gold"}]},
                               check_components=False).eval
        with pytest.raises(RecipeError, match="gold_rationale") as info:
            check_evaluator_columns(recipe)
        assert info.value.key == "eval.0.name"
        path = write_recipe(MINIMAL_RECIPE + '\n[[eval]]\nname = "test.needs_gold"\n')
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 2 and "eval.0.name" in result.output and "gold_rationale" in result.output
        path = write_recipe(MINIMAL_RECIPE + '\n[[eval]]\nname = "metrics.hyperedge_set"\ntasks = ["shared"]\n')
        assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0
    finally:
        odin_core.unregister_plugin(name="needs-gold")


# --- the Unsloth engine (own interpreter: importing unsloth patches transformers) ---------------


def test_unsloth_engine_switches_to_inference_and_back(tmp_path):
    script = textwrap.dedent(f"""
        import unsloth  # noqa: F401  (before transformers)
        import sys, json
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_evaluate import build_tiny_model, tiny_rows, recipe_for
        from odin_core.components.protocols import LoadedModel
        from odin_core.evaluate import evaluate_model
        rows = tiny_rows(10)
        model, tokenizer = build_tiny_model([r["prompt"] + r["completion"] for r in rows] * 5)
        model.train()
        loaded = LoadedModel(model=model, tokenizer=tokenizer, engine="unsloth")
        record = evaluate_model(recipe_for(), loaded, rows, {str(tmp_path)!r}, stage="base", loss_split=rows)
        print(json.dumps({{"training": model.training, "n": record["num_examples"],
                          "loss": record["metrics"]["metrics.perplexity"]["loss"]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["training"] is True and result["n"] == 10 and result["loss"] > 0
    assert len((tmp_path / "predictions-base.jsonl").read_text().splitlines()) == 10
