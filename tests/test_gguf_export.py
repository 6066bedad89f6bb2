"""``odin export RUN --gguf``: a tiny trained scratch Llama, merged and written as GGUF with the gguf package's
writer, loads back through transformers' GGUF loader with the same tokenizer ids and the same logits as the
merged model, within each dtype's tolerance."""

import pytest

from conftest import CoreTestPlugin
from training_support import TEXTS_FOR_TOKENIZER, recipe_text, toy_datasets, toy_rows, train_run, write_recipe

pytestmark = [pytest.mark.timeout(600), pytest.mark.usefixtures("one_torch_thread")]

#: largest |logit difference| allowed, as a fraction of the largest |logit| (measured 2026-11-26 on the trained
#: toy model: f16 0.001, bf16 0.005, q8_0 0.016)
TOLERANCE = {"f16": 0.01, "bf16": 0.03, "q8_0": 0.06}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import odin_core

    folder = tmp_path_factory.mktemp("gguf-run")
    mine = odin_core.pm.get_plugin("core-test") is None
    if mine:
        odin_core.register_plugin(CoreTestPlugin(), name="core-test")
    # a high learning rate, so the adapter moves the logits visibly away from the base
    text = recipe_text(max_steps=3, save_steps=3).replace("learning_rate = 3e-3", "learning_rate = 0.05")
    summary, loaded, run_dir = train_run(write_recipe(folder, text), folder / "run", toy_datasets())
    yield loaded, run_dir
    if mine:
        odin_core.unregister_plugin(name="core-test")


def load_gguf(path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return model, tokenizer


@pytest.mark.parametrize("dtype", ["f16", "bf16", "q8_0"])
def test_gguf_round_trip(trained, dtype):
    import torch
    from click.testing import CliRunner

    from odin_core.cli import cli
    from odin_core.flows.export import merged_model

    loaded, run_dir = trained
    result = CliRunner().invoke(cli, ["export", str(run_dir.path), "--gguf", "--dtype", dtype])
    assert result.exit_code == 0, result.output
    path = run_dir.path / "gguf" / f"run-{dtype}.gguf"
    assert f"gguf: {path} ({dtype}," in result.output and path.is_file()
    _, merged = merged_model(run_dir.path)
    model, tokenizer = load_gguf(path)
    prompt = toy_rows(1, 5, "test")[0]["prompt"] + " Ans: [3]"
    batch = loaded.tokenizer([prompt], return_tensors="pt")
    assert tokenizer(prompt)["input_ids"] == batch["input_ids"][0].tolist()
    assert tokenizer.eos_token == loaded.tokenizer.eos_token
    with torch.no_grad():
        expected, got = merged(**batch).logits, model(**batch).logits
        base = loaded.model.get_base_model()
        with loaded.model.disable_adapter():
            unmerged = base(**batch).logits
    scale = expected.abs().max().item()
    assert (got - expected).abs().max().item() <= TOLERANCE[dtype] * scale
    # the adapter is in the file: the exported logits are closer to the merged model than the base is
    assert (got - expected).abs().max() < (unmerged - expected).abs().max()


def test_tied_embeddings_and_chat_template(tmp_path):
    import torch
    import transformers
    from gguf import GGUFReader

    from odin_core.engine.gguf_export import write_gguf
    from odin_models.scratch import train_tokenizer

    tokenizer = train_tokenizer(TEXTS_FOR_TOKENIZER, 400, 256)
    tokenizer.chat_template = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|endoftext|>{% endfor %}"
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
                                      tie_word_embeddings=True, max_position_embeddings=256,
                                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    path = tmp_path / "tied.gguf"
    info = write_gguf(model, tokenizer, path, "f16")
    assert info["tied"] and info["tensors"] == 2 * 9 + 2  # no output.weight
    reader = GGUFReader(str(path))
    assert reader.fields["tokenizer.chat_template"].contents() == tokenizer.chat_template
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    back, back_tokenizer = load_gguf(path)
    assert back.config.tie_word_embeddings and back.num_parameters() == model.num_parameters()
    ids = tokenizer(["G describes a hypergraph: (v0, v1)."], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(back(**ids).logits, model(**ids).logits, atol=TOLERANCE["f16"] * 2)


def test_refusals(trained, tmp_path):
    from click.testing import CliRunner

    from odin_core.cli import cli

    _, run_dir = trained
    both = CliRunner().invoke(cli, ["export", str(run_dir.path), "--gguf", "--merged"])
    assert both.exit_code == 2 and "choose one of --merged and --gguf" in both.output
    existing = tmp_path / "x.gguf"
    existing.write_text("not mine")
    refused = CliRunner().invoke(cli, ["export", str(run_dir.path), "--gguf", "--output", str(existing)])
    assert refused.exit_code == 2 and "exists" in refused.output and existing.read_text() == "not mine"
    q8_merged = CliRunner().invoke(cli, ["export", str(run_dir.path), "--merged", "--dtype", "q8_0"])
    assert q8_merged.exit_code == 2 and "q8_0 is for --gguf" in q8_merged.output


def test_export_keeps_library_output_in_the_run_log(trained, tmp_path):
    """A subprocess, as a user runs it: the terminal shows Odin's one line; torch and loading bars go to odin.log."""
    import os
    import shutil

    from conftest import REPO, run_odin

    _, run_dir = trained
    run = tmp_path / "run"
    shutil.copytree(run_dir.path, run)
    recipe = (run / "recipe.toml").read_text()  # the built-in components in place of the in-process test ones
    recipe = (recipe.replace('"test.encoder"', '"hypernetx.n_set"').replace('"test.edge_count"', '"hypernetx.vertex_count"')
              .replace('"test.source"', '"hypernetx.synthetic"'))
    (run / "recipe.toml").write_text(recipe)
    done = run_odin("export", str(run), "--gguf", "--output", str(tmp_path / "model.gguf"),
                    env_extra={"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"gguf: {tmp_path / 'model.gguf'} (f16,") and len(done.stdout.splitlines()) == 1
    assert done.stderr == "", done.stderr[-3000:]
