"""Recipe loading, merging, overrides and every class of recipe error (through the CLI, exit code 2)."""

import tomllib

import pytest
from click.testing import CliRunner

from odin_core.cli import cli
from odin_core.foundation.errors import RecipeError
from odin_core.foundation.files import to_toml
from odin_core.recipe import apply_overrides, deep_merge, load_recipe, parse_override

pytestmark = pytest.mark.usefixtures("core_plugin")


def validate_cli(*args):
    result = CliRunner().invoke(cli, ["validate", *map(str, args)])
    return result.exit_code, result.output


def test_valid_recipe_validates_and_resolves_plugin_options(write_recipe):
    path = write_recipe()
    code, out = validate_cli(path)
    assert code == 0, out
    recipe = load_recipe(path)
    assert recipe.model.options.hidden_size == 32
    assert recipe.data.sources[0].options.count == 4
    resolved = recipe.resolved()
    assert resolved["model"]["hidden_size"] == 32
    assert resolved["training"]["learning_rate"] == 2e-4  # defaults are written out


def test_resolved_recipe_round_trips_through_toml(write_recipe):
    recipe = load_recipe(write_recipe())
    resolved = recipe.resolved()
    text = to_toml(resolved)
    again = tomllib.loads(text)

    def drop_none(value):
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [drop_none(v) for v in value]
        return value

    assert again == drop_none(resolved)


def test_unknown_key_suggests_the_right_one(write_recipe):
    path = write_recipe(open_recipe_with("[training]\nlearing_rate = 1e-4\n"))
    code, out = validate_cli(path)
    assert code == 2
    assert str(path) in out and "training.learing_rate" in out and "did you mean 'learning_rate'" in out
    assert "Traceback" not in out


def test_unknown_plugin_option_key_suggests(write_recipe):
    text = open_recipe_with("").replace("hidden_size = 32", "hiden_size = 32")
    code, out = validate_cli(write_recipe(text))
    assert code == 2 and "model.hiden_size" in out and "did you mean 'hidden_size'" in out


def test_wrong_type_names_key_and_expected(write_recipe):
    code, out = validate_cli(write_recipe(open_recipe_with('[training]\nbatch_size = "four"\n')))
    assert code == 2 and "training.batch_size" in out and "integer" in out and "'four'" in out


def test_wrong_type_in_plugin_options(write_recipe):
    text = open_recipe_with("").replace("count = 4", 'count = "many"')
    code, out = validate_cli(write_recipe(text))
    assert code == 2 and "data.sources.0.count" in out and "integer" in out


def test_missing_required_field(write_recipe):
    text = open_recipe_with("").replace('loader = "test.loader"\n', "")
    code, out = validate_cli(write_recipe(text))
    assert code == 2 and "model.loader" in out and "missing required key" in out


def test_unknown_component_lists_registered_names(write_recipe):
    text = open_recipe_with("").replace('"test.encoder"', '"test.encodr"')
    code, out = validate_cli(write_recipe(text))
    assert code == 2
    assert "data.encodings.0" in out and "unknown encoder 'test.encodr'" in out
    assert "did you mean 'test.encoder'" in out and "core-test" in out


def test_toml_syntax_error_has_line_and_column(write_recipe):
    path = write_recipe('name = "x"\n[model\nloader = "y"\n')
    code, out = validate_cli(path)
    assert code == 2 and f"{path}:2:" in out and "invalid TOML" in out


def test_missing_file(tmp_path):
    code, out = validate_cli(tmp_path / "nope.toml")
    assert code == 2 and "nope.toml" in out and "does not exist" in out


def test_non_utf8_file(write_recipe, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    code, out = validate_cli(path)
    assert code == 2 and f"{path}:1:" in out and "not UTF-8" in out and "0xe9" in out


def test_a_byte_order_mark_is_not_part_of_the_recipe(tmp_path):
    """Windows editors save UTF-8 with a byte-order mark; TOML itself would reject it."""
    from odin_core.recipe import read_toml

    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'name = "with-bom"\n')
    assert read_toml(path) == {"name": "with-bom"}


def test_extends_deep_merges_and_overrides_apply_last(write_recipe):
    write_recipe(name="base.toml")
    child = write_recipe('extends = "base.toml"\nname = "child"\n[training]\nlearning_rate = 1e-3\n', name="child.toml")
    recipe = load_recipe(child, ["training.learning_rate=5e-5", "model.hidden_size=48", "data.sources.0.count=2"])
    assert recipe.name == "child"
    assert recipe.training.learning_rate == 5e-5
    assert recipe.model.options.hidden_size == 48
    assert recipe.data.sources[0].options.count == 2
    assert recipe.data.encoding_names == ["test.encoder"]  # inherited from base


def test_a_lora_section_of_an_earlier_release_is_read_as_finetune_with_a_warning(write_recipe):
    from conftest import MINIMAL_RECIPE

    write_recipe(MINIMAL_RECIPE.replace("[finetune]", "[lora]"), name="base.toml")
    child = write_recipe('extends = "base.toml"\nname = "child"\n', name="child.toml")
    recipe = load_recipe(child, ["lora.strategy=test.frozen"])
    assert recipe.finetune.strategy == "test.frozen"
    assert any("[lora] is now called [finetune]" in w and "base.toml" in w for w in recipe.warnings)
    assert "lora" not in recipe.resolved() and recipe.resolved()["finetune"]["strategy"] == "test.frozen"
    both = write_recipe('extends = "base.toml"\nname = "both"\n[finetune]\nstrategy = "test.frozen"\n[lora]\n'
                        'strategy = "test.frozen"\n', name="both.toml")
    with pytest.raises(RecipeError, match=r"both.toml.*has both \[lora\] and \[finetune\]"):
        load_recipe(both)


def test_extends_cycle_and_missing_parent(write_recipe):
    write_recipe('extends = "b.toml"\n', name="a.toml")
    b = write_recipe('extends = "a.toml"\n', name="b.toml")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(b)
    c = write_recipe('extends = "missing.toml"\n', name="c.toml")
    code, out = validate_cli(c)
    assert code == 2 and "extends" in out and "does not exist" in out


def test_override_parsing():
    assert parse_override("training.learning_rate=1e-4") == (["training", "learning_rate"], 1e-4)
    assert parse_override("finetune.r=32") == (["finetune", "r"], 32)
    assert parse_override("model.name=meta/llama") == (["model", "name"], "meta/llama")
    assert parse_override('data.tasks=["vertex_count"]') == (["data", "tasks"], ["vertex_count"])
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        parse_override("training.learning_rate")
    with pytest.raises(RecipeError, match="not a table"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_bad_override_through_cli(write_recipe):
    code, out = validate_cli(write_recipe(), "--set", "training.batch_size=0")
    assert code == 2 and "training.batch_size" in out and "greater than 0" in out


def test_deep_merge_replaces_lists_and_merges_tables():
    merged = deep_merge({"a": {"x": 1, "y": [1, 2]}, "b": 1}, {"a": {"y": [3]}, "c": 2})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}


def test_split_fractions_must_sum_to_one(write_recipe):
    code, out = validate_cli(write_recipe(open_recipe_with("[data.split]\ntrain = 0.5\nvalidation = 0.1\ntest = 0.1\n")))
    assert code == 2 and "data.split" in out and "add up to 1" in out


def open_recipe_with(extra: str) -> str:
    from conftest import MINIMAL_RECIPE

    return MINIMAL_RECIPE + "\n" + extra
