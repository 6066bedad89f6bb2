"""The training engine: supervised fine-tuning on completions, checkpoints, resume, artifacts.

Two engines, chosen by ``training.engine``:

* ``unsloth`` (default): the model Unsloth's ``FastLanguageModel`` loaded, trained
  by TRL's ``SFTTrainer``/``SFTConfig`` (Unsloth patches both; on a machine
  without a GPU Unsloth 2026.10 falls back to CPU training by itself).
* ``transformers``: plain transformers + PEFT with TRL's data utilities
  (``pack_dataset``, ``DataCollatorForLanguageModeling``) and ``transformers.Trainer``.
  Not ``SFTTrainer``: TRL 1.15's ``SFTTrainer`` always installs a triton fused LM
  head, which fails on a CPU ("0 active drivers") unless Unsloth replaces it,
  and this engine is the no-Unsloth baseline that must run everywhere.

Both engines train on the same token sequences: ``tokenize_split`` tokenizes
prompt and completion the way TRL does for prompt-completion data (the prompt
is the common prefix of the tokenized prompt and prompt+completion; EOS ends
a plain completion; chat rows go through the tokenizer's chat template) and
masks the prompt out of the labels, so the loss is on completions only.

Checkpoints go to ``<run_dir>/checkpoints`` every ``save_steps``; ``resume=True``
continues from the last complete one (model, optimizer, scheduler, RNG states
and data order, through ``Trainer``'s own resume). The adapter (PEFT format)
and tokenizer end in ``<run_dir>/adapter`` (``<run_dir>/model`` for full
fine-tuning), the trainer state in ``<run_dir>/trainer_state.json`` and one
record per logging step in ``metrics.jsonl``.

Heavy libraries are imported inside the functions; importing this module is cheap.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from pathlib import Path

import click

from odin_core.errors import ModelError, RecipeError
from odin_core.rundir import atomic_write_dir

ADAPTER_DIR = "adapter"
FULL_MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoints"
MERGED_DIR = "merged"
TRAINER_STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


# --- tokenization ----------------------------------------------------------------


def _messages(row):
    value = row.get("messages")
    if isinstance(value, str):
        value = json.loads(value)
    return value or None


def uses_chat(loaded, split) -> bool:
    """Whether rows go through the chat template: the model wants it, the tokenizer has one, rows have messages."""
    if not loaded.chat_template or not getattr(loaded.tokenizer, "chat_template", None):
        return False
    columns = getattr(split, "column_names", None)
    if columns is not None:
        return "messages" in columns and len(split) > 0 and bool(_messages(split[0]))
    return bool(split) and bool(_messages(split[0]))


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text; special tokens are added unless the text already starts with BOS (a chat template's)."""
    bos = getattr(tokenizer, "bos_token", None)
    with_bos = [bool(bos) and t.startswith(bos) for t in texts]
    out: list[list[int] | None] = [None] * len(texts)
    for flag in (False, True):
        idx = [i for i, b in enumerate(with_bos) if b == flag]
        if idx:
            ids = tokenizer([texts[i] for i in idx], add_special_tokens=not flag)["input_ids"]
            for i, seq in zip(idx, ids):
                out[i] = list(seq)
    return out


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def tokenize_batch(tokenizer, rows: dict, *, chat: bool, completion_only_loss: bool = True) -> dict:
    """``input_ids`` and ``labels`` (prompt tokens -100 when ``completion_only_loss``) for a batch of rows."""
    if chat:
        prompts, fulls = [], []
        for messages in rows["messages"]:
            turns = list(messages)
            while turns and turns[-1]["role"] == "assistant":
                turns.pop()
            prompts.append(tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False))
            fulls.append(tokenizer.apply_chat_template(list(messages), tokenize=False))
        prompt_ids, full_ids = encode(tokenizer, prompts), encode(tokenizer, fulls)
    else:
        prompt_ids = encode(tokenizer, list(rows["prompt"]))
        full_ids = encode(tokenizer, [p + c for p, c in zip(rows["prompt"], rows["completion"])])
        if tokenizer.eos_token_id is not None:
            full_ids = [ids + [tokenizer.eos_token_id] for ids in full_ids]
    labels = []
    for p, f in zip(prompt_ids, full_ids):
        start = _common_prefix(p, f) if completion_only_loss else 0
        labels.append([-100] * start + f[start:])
    return {"input_ids": full_ids, "labels": labels}


def tokenize_split(split, loaded, *, max_length: int, completion_only_loss: bool = True, desc: str = "tokenizing"):
    """The split as ``input_ids``/``labels``, cut to ``max_length``; returns (dataset, examples dropped).

    An example whose completion falls entirely beyond ``max_length`` has nothing left to learn
    from and is dropped (and counted), as TRL does."""
    chat = uses_chat(loaded, split)
    tokenizer = loaded.tokenizer

    def fn(rows):
        out = tokenize_batch(tokenizer, rows, chat=chat, completion_only_loss=completion_only_loss)
        return {k: [seq[:max_length] for seq in v] for k, v in out.items()}

    tokenized = split.map(fn, batched=True, batch_size=256, remove_columns=split.column_names,
                          keep_in_memory=True, desc=desc)
    kept = tokenized.filter(lambda row: any(t != -100 for t in row["labels"]), keep_in_memory=True)
    return kept, len(tokenized) - len(kept)


# --- checkpoints -----------------------------------------------------------------


def last_checkpoint(folder) -> Path | None:
    """The checkpoint with the highest step that was written completely (its trainer state comes last)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    done = [(int(m.group(1)), p) for p in folder.iterdir()
            if (m := _CHECKPOINT.match(p.name)) and (p / TRAINER_STATE).is_file()]
    return max(done)[1] if done else None


def _checkpoint_step(path: Path) -> int:
    return int(_CHECKPOINT.match(path.name).group(1))


def _prune_metrics(run_dir, step: int) -> int:
    """Drop metrics.jsonl records after ``step`` (logged after the checkpoint a resume starts from)."""
    from odin_core.rundir import atomic_write_text

    records = run_dir.read_jsonl("metrics.jsonl")
    kept = [r for r in records if not isinstance(r.get("step"), int) or r["step"] <= step]
    if len(kept) != len(records):
        atomic_write_text(run_dir.file("metrics.jsonl"), "".join(json.dumps(r, default=str) + "\n" for r in kept))
    return len(records) - len(kept)


# --- progress and metrics ----------------------------------------------------------


def peak_memory_mb(device: str) -> float:
    """Peak memory so far: CUDA allocations on a GPU, the process's resident set size on a CPU."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_line(step: int, max_steps: int, record: dict) -> str:
    """One compact line for a logging step."""
    parts = [f"step {step}/{max_steps}"]
    if "loss" in record:
        parts.append(f"loss {record['loss']:.4f}")
    if "eval_loss" in record:
        parts.append(f"eval_loss {record['eval_loss']:.4f}")
    if "learning_rate" in record:
        parts.append(f"lr {record['learning_rate']:.2e}")
    if "grad_norm" in record:
        parts.append(f"grad {record['grad_norm']:.3f}")
    if "tokens_per_second" in record:
        parts.append(f"{record['tokens_per_second']:,.0f} tok/s")
    if "peak_memory_mb" in record:
        parts.append(f"peak {record['peak_memory_mb']:,.0f} MB")
    return " | ".join(parts)


_EVAL_SKIP = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")


def _callbacks(run_dir, events, device: str):
    """The run's TrainerCallback: progress bar, one line per logging step, metrics and checkpoint events."""
    from transformers.trainer_callback import ProgressCallback
    from tqdm.auto import tqdm

    class OdinProgress(ProgressCallback):
        def __init__(self):
            super().__init__()
            self.show_bar = sys.stderr.isatty()
            self.last_time = None
            self.last_tokens = 0
            self.final: dict = {}

        def on_train_begin(self, args, state, control, **kwargs):
            self.training_bar = tqdm(total=state.max_steps, initial=state.global_step, dynamic_ncols=True,
                                     disable=not self.show_bar, desc="training", file=sys.stderr)
            self.current_step = state.global_step
            self.last_time = time.perf_counter()
            self.last_tokens = state.num_input_tokens_seen

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            if self.show_bar:
                super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            if "train_loss" in logs:  # the end-of-training summary, not a logging step
                self.final = logs
                return
            record: dict = {}
            if "loss" in logs:
                now = time.perf_counter()
                tokens = state.num_input_tokens_seen
                elapsed = max(now - self.last_time, 1e-9)
                record = {key: float(logs[key]) for key in ("loss", "learning_rate", "grad_norm", "epoch")
                          if isinstance(logs.get(key), (int, float))}
                record["tokens_seen"] = int(tokens)
                record["tokens_per_second"] = (tokens - self.last_tokens) / elapsed
                record["peak_memory_mb"] = round(peak_memory_mb(device), 1)
                self.last_time, self.last_tokens = now, tokens
            elif "eval_loss" in logs:
                record = {key: float(value) for key, value in logs.items()
                          if key.startswith("eval_") and key not in _EVAL_SKIP and isinstance(value, (int, float))}
            if not record:
                return
            line = progress_line(state.global_step, state.max_steps, record)
            tqdm.write(line, file=sys.stderr)
            run_dir.log(line)
            events.metrics(state.global_step, record)

        def on_save(self, args, state, control, **kwargs):
            events.checkpoint(state.global_step, str(Path(args.output_dir) / f"checkpoint-{state.global_step}"))

        def on_train_end(self, args, state, control, **kwargs):
            if self.training_bar is not None:
                self.training_bar.close()
                self.training_bar = None

    return OdinProgress()


# --- training ------------------------------------------------------------------------


def _device(recipe) -> str:
    import torch

    return "cuda" if torch.cuda.is_available() and recipe.training.device != "cpu" else "cpu"


def _optimizer(recipe, device: str) -> str:
    optim = recipe.training.optim
    if optim != "auto":
        return optim
    return "adamw_8bit" if device == "cuda" else "adamw_torch"


def _precision(device: str) -> dict:
    if device != "cuda":
        return {"bf16": False, "fp16": False}
    import torch

    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16}


def training_arguments(recipe, run_dir, device: str, has_eval: bool) -> dict:
    """The ``TrainingArguments`` keywords both engines share, from the recipe's ``[training]``."""
    t = recipe.training
    return dict(
        output_dir=str(run_dir.path / CHECKPOINT_DIR),
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_train_epochs=t.num_epochs, max_steps=t.max_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler,
        # a float below 1 is a ratio of the total steps for transformers; 1.0 would read as "1 step"
        warmup_steps=min(t.warmup_ratio, 0.999999) if t.warmup_ratio else 0,
        weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm, optim=_optimizer(recipe, device),
        logging_steps=t.logging_steps,
        eval_strategy="steps" if has_eval else "no", eval_steps=t.eval_steps if has_eval else None,
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        seed=recipe.seed, data_seed=recipe.seed, report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", use_cpu=device == "cpu", dataloader_num_workers=0,
        gradient_checkpointing=False,  # the strategy set it up on the model
        **_precision(device),
    )


def _unsloth_trainer(recipe, loaded, train_set, eval_set, common):
    from unsloth import FastLanguageModel  # noqa: F401  (patches TRL before it is imported)
    from trl import SFTConfig, SFTTrainer

    t = recipe.training
    args = SFTConfig(**common, max_length=recipe.model.max_seq_length, packing=t.packing,
                     completion_only_loss=None)  # labels are built by tokenize_split
    return SFTTrainer(model=loaded.model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                      processing_class=loaded.tokenizer)


def _transformers_trainer(recipe, loaded, train_set, eval_set, common):
    from transformers import Trainer, TrainingArguments
    from trl import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    packing = recipe.training.packing
    if packing:
        length = recipe.model.max_seq_length
        train_set = pack_dataset(train_set, length, "bfd", {"keep_in_memory": True})
        if eval_set is not None:
            eval_set = pack_dataset(eval_set, length, "bfd", {"keep_in_memory": True})
    pad_id = loaded.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = loaded.tokenizer.eos_token_id
    collator = DataCollatorForLanguageModeling(pad_token_id=pad_id, padding_free=packing)
    args = TrainingArguments(**common, remove_unused_columns=False)
    return Trainer(model=loaded.model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                   data_collator=collator, processing_class=loaded.tokenizer)


def _unwrap(model):
    return getattr(model, "module", model)


def _is_peft(model) -> bool:
    return hasattr(model, "peft_config")


def train(recipe, loaded, datasets, run_dir, events, resume: bool = False, callbacks=()) -> dict:
    """Fine-tune ``loaded.model`` (already wrapped by the LoRA strategy) on ``datasets["train"]``.

    ``callbacks``: extra ``transformers.TrainerCallback`` objects.

    Returns a JSON-serialisable summary: steps, train_seconds, tokens_per_second,
    peak_memory_mb, final_loss, adapter_dir, and more.
    """
    import torch
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    engine = recipe.training.engine
    if loaded.engine != engine:
        raise ModelError(f"the model was loaded for the {loaded.engine} engine but training.engine is {engine!r}",
                         file=recipe.path, key="training.engine")
    if engine == "transformers" and "unsloth" in sys.modules:
        message = ("warning: unsloth is imported in this process; its patches to transformers also apply to the "
                   "transformers engine, which is then not plain transformers")
        print(message, file=sys.stderr)
        run_dir.log(message)
    device = _device(recipe)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    set_seed(recipe.seed)

    t = recipe.training
    length = recipe.model.max_seq_length
    train_set, dropped = tokenize_split(datasets["train"], loaded, max_length=length,
                                       completion_only_loss=t.completion_only_loss, desc="tokenizing train")
    if len(train_set) == 0:
        raise RecipeError("no training examples left after tokenization (the train split is empty, or every "
                          "completion falls beyond model.max_seq_length)", file=recipe.path, key="data.num_examples.train")
    if dropped:
        run_dir.log(f"{dropped} training examples dropped: their completion starts beyond max_seq_length = {length}")
    eval_set = None
    validation = datasets.get("validation") if hasattr(datasets, "get") else None
    if t.eval_steps and validation is not None and len(validation):
        eval_set, _ = tokenize_split(validation, loaded, max_length=length, completion_only_loss=t.completion_only_loss,
                                     desc="tokenizing validation")
    common = training_arguments(recipe, run_dir, device, eval_set is not None)
    build = _unsloth_trainer if engine == "unsloth" else _transformers_trainer
    trainer = build(recipe, loaded, train_set, eval_set, common)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    progress = _callbacks(run_dir, events, device)
    trainer.add_callback(progress)
    for callback in callbacks:
        trainer.add_callback(callback)

    checkpoint, start_tokens = None, 0
    if resume:
        checkpoint = last_checkpoint(run_dir.path / CHECKPOINT_DIR)
        if checkpoint is None:
            run_dir.log("resume: no complete checkpoint yet; training from the start")
        else:
            # read now: save_total_limit may delete this checkpoint during training
            start_tokens = json.loads((checkpoint / TRAINER_STATE).read_text()).get("num_input_tokens_seen", 0)
            pruned = _prune_metrics(run_dir, _checkpoint_step(checkpoint))
            run_dir.log(f"resuming training from {checkpoint}" + (f" ({pruned} later metric records dropped)"
                                                                   if pruned else ""))
    resumed_from = _checkpoint_step(checkpoint) if checkpoint else None
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - started

    model = _unwrap(trainer.model)
    tokenizer = loaded.tokenizer
    target = run_dir.path / (ADAPTER_DIR if _is_peft(model) else FULL_MODEL_DIR)

    def save(tmp):
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    atomic_write_dir(target, save)
    import dataclasses

    run_dir.write_json(TRAINER_STATE, dataclasses.asdict(trainer.state))
    loaded.model = model

    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    eval_losses = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    session_tokens = state.num_input_tokens_seen - start_tokens
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary = {
        "engine": engine,
        "device": device,
        "strategy": recipe.lora.strategy,
        "steps": int(state.global_step),
        "max_steps": int(state.max_steps),
        "epochs": round(float(state.epoch or 0), 4),
        "train_examples": len(train_set),
        "train_sequences": len(trainer.train_dataset),  # fewer than the examples when packed
        "dropped_examples": dropped,
        "train_seconds": round(seconds, 2),
        "tokens": int(session_tokens),
        "tokens_per_second": round(session_tokens / seconds, 1) if seconds > 0 else None,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "final_loss": losses[-1] if losses else None,
        "mean_loss": sum(losses) / len(losses) if losses else None,  # of the logged losses, resumed runs too
        "eval_loss": eval_losses[-1] if eval_losses else None,
        "trainable_parameters": trainable,
        "parameters": total,
        "resumed_from_step": resumed_from,
        "adapter_dir": str(target),
        "checkpoint_dir": str(run_dir.path / CHECKPOINT_DIR),
    }
    line = (f"trained {summary['steps']} steps in {_fmt_duration(seconds)} | "
            f"{summary['tokens_per_second'] or 0:,.0f} tok/s | peak {summary['peak_memory_mb']:,.0f} MB"
            f"{'' if device == 'cuda' else ' (RSS)'} | final loss "
            f"{summary['final_loss'] if summary['final_loss'] is None else format(summary['final_loss'], '.4f')} | "
            f"{'adapter' if _is_peft(model) else 'model'}: {target}")
    click.echo(line, err=True)
    run_dir.log(line)
    return summary


# --- reloading a run's model ----------------------------------------------------------


class _InferenceLoad:
    """What a loader needs to know of a strategy when a trained run is reloaded for inference or merging."""

    requires_cuda = False
    full_finetuning = False
    gradient_checkpointing = False

    def __init__(self, load_in_4bit: bool):
        self.load_in_4bit = load_in_4bit
        self.requires_cuda = load_in_4bit


def load_run_model(run_dir, adapter: bool = True, load_in_4bit: bool | None = None):
    """A run's model as ``LoadedModel``: its base through its loader, with the trained adapter attached.

    ``adapter=False`` gives the base model alone. For full fine-tuning the trained model
    is loaded from ``<run_dir>/model``. ``load_in_4bit`` overrides the strategy's choice
    (``export`` merges into a 16-bit base)."""
    from odin_core.plugins import get_component
    from odin_core.recipe import load_recipe
    from odin_core.rundir import RunDir

    path = Path(run_dir)
    if not (path / "recipe.toml").is_file():
        raise ModelError("is not a run directory (no recipe.toml)", file=path)
    recipe = load_recipe(path / "recipe.toml")
    run = RunDir(path, recipe)
    strategy = get_component("lora", recipe.lora.strategy).create(recipe.lora.options)
    four_bit = strategy.load_in_4bit if load_in_4bit is None else load_in_4bit
    shim = _InferenceLoad(four_bit)
    from odin_core.run import check_device

    check_device(recipe, shim)
    loader = get_component("loader", recipe.model.loader).create(recipe.model.options)
    if adapter and strategy.full_finetuning:
        trained = path / FULL_MODEL_DIR
        if not (trained / "config.json").is_file():
            raise ModelError(f"no trained model in {trained}: training did not finish; continue it with "
                             f"odin run {recipe.path} --resume {path}", file=path)
        section = recipe.model.model_copy(update={"name": str(trained.resolve())})
        section._options = recipe.model.options
        return loader.load(section, shim, run, None)
    loaded = loader.load(recipe.model, shim, run, None)
    if not adapter:
        return loaded
    adapter_dir = path / ADAPTER_DIR
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelError(f"no trained adapter in {adapter_dir}: training did not finish; continue it with "
                         f"odin run {recipe.path} --resume {path}, or evaluate the base model", file=path)
    from peft import PeftModel

    loaded.model = PeftModel.from_pretrained(loaded.model, str(adapter_dir), is_trainable=False)
    loaded.info = {**loaded.info, "adapter": str(adapter_dir)}
    return loaded


# --- export -----------------------------------------------------------------------------


def export_merged(run_dir, output=None, dtype: str = "auto") -> Path:
    """Merge the run's adapter into its base (loaded in 16 bits) and save the model + tokenizer; returns the folder."""
    import torch

    path = Path(run_dir)
    loaded = load_run_model(path, adapter=True, load_in_4bit=False)
    model = loaded.model
    if _is_peft(model):
        model = model.merge_and_unload()
    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float16"
    model = model.to(getattr(torch, dtype))
    target = Path(output) if output else path / MERGED_DIR

    def save(tmp):
        model.save_pretrained(tmp)
        loaded.tokenizer.save_pretrained(tmp)

    atomic_write_dir(target, save)
    return target


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--merged", is_flag=True, help="Merge the adapter into the base model and save it in 16 bits.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the merged model (default: RUN_DIR/merged).")
@click.option("--dtype", type=click.Choice(["auto", "float16", "bfloat16", "float32"]), default="auto",
              show_default=True, help="Weights' dtype ('auto': bfloat16 where the GPU supports it, else float16).")
def export_command(run_dir, merged, output, dtype):
    """Export RUN_DIR's trained model (the adapter is already in RUN_DIR/adapter, in PEFT format)."""
    if not merged:
        raise click.UsageError(f"nothing to export: the adapter is already in {run_dir / ADAPTER_DIR} "
                               "(PEFT format); pass --merged for a merged 16-bit model")
    target = export_merged(run_dir, output, dtype)
    click.echo(f"merged model: {target}")
