"""The overhead benchmark's reference: LoRA training written by hand against Unsloth and TRL, no Odin.

    python -m benchmarks.hand_train --model FOLDER --data FOLDER --result PATH [hyperparameters]

Makes the calls Odin's Unsloth engine makes (``FastLanguageModel.from_pretrained``,
``FastLanguageModel.get_peft_model``, TRL's ``SFTTrainer``/``SFTConfig``) on a dataset saved by
``datasets.save_to_disk`` (the one Odin built), with completion-only labels (prompt tokens -100,
EOS after the completion). Imports nothing from Odin. Writes the timed phases, tokens, final loss.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TARGETS = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


def arguments(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="base model folder in Hugging Face layout")
    ap.add_argument("--data", required=True, help="folder written by datasets.save_to_disk (a train split)")
    ap.add_argument("--result", type=Path, required=True)
    ap.add_argument("--output-dir", type=Path, required=True)
    ap.add_argument("--max-seq-length", type=int, default=512)
    ap.add_argument("--r", type=int, default=32)
    ap.add_argument("--alpha", type=int, default=64)
    ap.add_argument("--targets", default=TARGETS)
    ap.add_argument("--modules-to-save", default="embed_tokens,lm_head")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--learning-rate", type=float, default=2e-3)
    ap.add_argument("--warmup-ratio", type=float, default=0.05)
    ap.add_argument("--logging-steps", type=int, default=10)
    ap.add_argument("--optim", default="adamw_torch")
    ap.add_argument("--seed", type=int, default=7)
    return ap.parse_args(argv)


def main(argv=None) -> None:
    started = time.perf_counter()
    args = arguments(argv)
    from unsloth import FastLanguageModel  # before transformers and trl, as Unsloth asks

    import torch
    from datasets import load_from_disk
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    phases = {"imports": time.perf_counter() - started}
    t0 = time.perf_counter()
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=args.model, max_seq_length=args.max_seq_length, dtype=None, load_in_4bit=False,
        use_gradient_checkpointing=False)
    model = FastLanguageModel.get_peft_model(
        model, r=args.r, lora_alpha=args.alpha, lora_dropout=0.0, bias="none",
        target_modules=args.targets.split(","), modules_to_save=[m for m in args.modules_to_save.split(",") if m],
        use_gradient_checkpointing=False, random_state=args.seed, max_seq_length=args.max_seq_length)
    phases["model"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    eos = tokenizer.eos_token_id

    def tokenize(rows):
        prompts = tokenizer(rows["prompt"])["input_ids"]
        fulls = tokenizer([p + c for p, c in zip(rows["prompt"], rows["completion"])])["input_ids"]
        input_ids, labels = [], []
        for p, f in zip(prompts, fulls):
            f = f + [eos]
            start = next((i for i, (a, b) in enumerate(zip(p, f)) if a != b), min(len(p), len(f)))
            input_ids.append(f[:args.max_seq_length])
            labels.append(([-100] * start + f[start:])[:args.max_seq_length])
        return {"input_ids": input_ids, "labels": labels}

    train = load_from_disk(args.data)["train"]
    train = train.map(tokenize, batched=True, batch_size=256, remove_columns=train.column_names, keep_in_memory=True)
    train = train.filter(lambda row: any(t != -100 for t in row["labels"]), keep_in_memory=True)
    phases["data"] = time.perf_counter() - t0

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    set_seed(args.seed)
    t0 = time.perf_counter()
    config = SFTConfig(
        output_dir=str(args.output_dir), per_device_train_batch_size=args.batch_size, max_steps=args.steps,
        learning_rate=args.learning_rate, lr_scheduler_type="cosine", warmup_steps=args.warmup_ratio,
        weight_decay=0.0, max_grad_norm=1.0, optim=args.optim, logging_steps=args.logging_steps,
        save_strategy="no", seed=args.seed, data_seed=args.seed, report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", use_cpu=not cuda,
        dataloader_num_workers=0, bf16=bf16, fp16=cuda and not bf16, max_length=args.max_seq_length, packing=False,
        completion_only_loss=None)
    trainer = SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
    trainer.train()
    phases["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model.save_pretrained(args.output_dir / "adapter")
    tokenizer.save_pretrained(args.output_dir / "adapter")
    phases["save"] = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    result = {"steps": trainer.state.global_step, "train_seconds": phases["train"],
              "tokens": int(trainer.state.num_input_tokens_seen), "final_loss": losses[-1] if losses else None,
              "phases": {k: round(v, 3) for k, v in phases.items()},
              "wall_seconds": round(time.perf_counter() - started, 3)}
    args.result.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
