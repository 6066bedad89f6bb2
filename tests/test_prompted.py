"""Prompted baselines: zero-shot, k-shot, Hyper-BAG and Hyper-COT stages of the base model through its chat
template, and generation that stops at the end of an answer written after reasoning."""

import json

import pytest

from odin_core.components.protocols import LoadedModel
from odin_core.evaluate.prompted import (HYPER_BAG, HYPER_COT, INSTRUCTION, choose_shots, evaluate_prompted,
                                         prompted_messages, shot_pool)
from test_evaluate import build_tiny_model, fit, recipe_for, tiny_rows

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% if m['role'] == 'assistant' %}"
                 "{{ eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")


def with_graph(rows, prefix):
    """Give each row a hypergraph identity (graph_id and meta graph_key), as the data builder does."""
    out = []
    for i, row in enumerate(rows):
        meta = json.loads(row["meta"])
        meta["graph_key"] = f"key-{i % 4}"
        out.append({**row, "graph_id": f"{prefix}-{i % 4}", "meta": json.dumps(meta)})
    return out


def test_shots_are_training_rows_of_the_same_task_and_encoding_about_other_hypergraphs():
    train = with_graph(tiny_rows(60, offset=200), "train")
    test = with_graph(tiny_rows(20), "test")
    test[0] = {**test[0], "graph_id": "train-1", "meta": json.dumps({"graph_key": "key-1"})}  # shares a hypergraph
    pool = shot_pool(train)
    train_ids = {r["id"] for r in train}
    for row in test:
        shots = choose_shots(row, pool, 3, seed=9)
        assert len(shots) == 3 and {s["id"] for s in shots} <= train_ids
        assert all((s["task"], s["encoding"]) == (row["task"], row["encoding"]) for s in shots)
        assert all(s["graph_id"] != row["graph_id"] for s in shots)
        assert all(json.loads(s["meta"])["graph_key"] != json.loads(row["meta"])["graph_key"] for s in shots)
        assert shots == choose_shots(row, pool, 3, seed=9)  # seeded per row
    messages = prompted_messages(test[1], choose_shots(test[1], pool, 2, seed=9))
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert messages[0]["content"].startswith(INSTRUCTION) and messages[-2]["content"] == test[1]["prompt"]
    assert prompted_messages(test[1], [])[0]["content"] == INSTRUCTION + "\n\n" + test[1]["prompt"]


@pytest.fixture(scope="module")
def chat_model():
    rows = tiny_rows(30)
    model, tokenizer = build_tiny_model([r["prompt"] + r["completion"] for r in rows] * 5)
    model.eval()
    tokenizer.chat_template = CHAT_TEMPLATE
    return LoadedModel(model=model, tokenizer=tokenizer, engine="transformers", chat_template=True)


def test_prompted_stages_on_a_chat_model(chat_model, tmp_path):
    train = with_graph(tiny_rows(60, offset=200), "train")
    test = with_graph(tiny_rows(15), "test")
    recipe = recipe_for(prompted=True, shots=2, max_new_tokens=8)
    results = evaluate_prompted(recipe, chat_model, test, train, tmp_path)
    assert set(results) == {"zero_shot", "k_shot"}
    for stage, k in (("zero_shot", 0), ("k_shot", 2)):
        record = results[stage]
        assert record["num_examples"] == len(test) and record["prompting"]["shots"] == k
        assert record["prompting"]["skipped_over_context"] == 0
        predictions = [json.loads(line) for line in (tmp_path / f"predictions-{stage}.jsonl").read_text().splitlines()]
        assert [p["id"] for p in predictions] == [r["id"] for r in test]
    # a context too short for the k-shot prompts: rows are skipped and counted, never truncated
    limit, chat_model.tokenizer.model_max_length = chat_model.tokenizer.model_max_length, 90
    try:
        results = evaluate_prompted(recipe, chat_model, test, train, tmp_path)
    finally:
        chat_model.tokenizer.model_max_length = limit
    skipped = results["k_shot"]["prompting"]["skipped_over_context"]
    assert skipped > 0 and results["k_shot"].get("num_examples", 0) == len(test) - skipped


def test_hyper_bag_and_hyper_cot_stages_reason_first_with_their_own_budget(chat_model, tmp_path):
    train = with_graph(tiny_rows(60, offset=200), "train")
    test = with_graph(tiny_rows(10), "test")
    recipe = recipe_for(prompted=True, prompting=["hyper_bag", "hyper_cot"], reasoning_tokens=24, max_new_tokens=8)
    results = evaluate_prompted(recipe, chat_model, test, train, tmp_path)
    assert set(results) == {"hyper_bag", "hyper_cot"}
    for stage, instruction in (("hyper_bag", HYPER_BAG), ("hyper_cot", HYPER_COT)):
        record = results[stage]
        assert record["prompting"]["instruction"] == instruction and record["prompting"]["reasons_first"]
        assert record["prompting"]["shots"] == 0 and record["num_examples"] == len(test)
        assert set(record["generation"]["max_new_tokens"].values()) == {24}  # the reasoning budget, every task
        predictions = [json.loads(line) for line in (tmp_path / f"predictions-{stage}.jsonl").read_text().splitlines()]
        assert [p["id"] for p in predictions] == [r["id"] for r in test]
    bag = prompted_messages(test[0], [], HYPER_BAG)
    assert bag[0]["content"] == HYPER_BAG + "\n\n" + test[0]["prompt"]


def test_reasoning_generation_stops_at_the_end_of_the_answer_not_at_the_first_bracket():
    from odin_core.evaluate.generation import generate, inference_mode

    rows = [{**r, "completion": " In [v1, v2] I see it." + r["completion"]} for r in tiny_rows(20)]
    model, tokenizer = build_tiny_model([r["prompt"] + r["completion"] for r in rows] * 5)
    fit(model, tokenizer, rows, steps=150)
    loaded = LoadedModel(model=model, tokenizer=tokenizer, engine="transformers")
    prompts = [r["prompt"] for r in rows[:8]]
    with inference_mode(loaded):
        at_bracket = generate(loaded, prompts, 40)
        at_answer = generate(loaded, prompts, 40, stop_strings=None)
    assert all(text.endswith("]") and "Ans" not in text for text in at_bracket), at_bracket  # "In [v1, v2]"
    whole = [text for text in at_answer if "Ans: [" in text and text.endswith("]") and text.count("]") == 2]
    assert len(whole) >= 6, at_answer  # the reasoning's bracket did not stop it; the answer's did


def test_prompting_is_skipped_without_a_chat_template(tmp_path):
    rows = tiny_rows(10)
    model, tokenizer = build_tiny_model([r["prompt"] + r["completion"] for r in rows] * 5)
    loaded = LoadedModel(model=model, tokenizer=tokenizer, engine="transformers", chat_template=False)
    result = evaluate_prompted(recipe_for(prompted=True), loaded, rows, rows, tmp_path)
    assert set(result) == {"skipped"} and "chat template" in result["skipped"]
