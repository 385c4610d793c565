"""Tiny HF BERT fixture for the burn port in ``src/text/bert.rs`` (tests/it/bert.rs).

Builds ``transformers.BertModel`` with a fixed seed and a tiny configuration (vocab 64,
hidden 32, 2 layers, 4 heads, intermediate 48, 32 positions, GELU erf, LayerNorm eps 1e-12),
moves every parameter away from its initial value (LayerNorm gammas and betas, all biases;
query/key weights scaled up so attention is far from uniform) so that a wrong name mapping, a
missing transpose or a wrong head split shows, and writes into
``tests/fixtures/text/tiny_bert/``:

* ``model.safetensors``: the state dict under ``bert.``-prefixed names (the loader must detect
  and strip the prefix), including the pooler and an int64 ``embeddings.position_ids`` buffer
  (both must be ignored, as in the real all-MiniLM-L6-v2 file). Float tensors are stored as
  **float16** to keep the fixture small (~40 KB instead of ~77 KB): the parameters are rounded
  to float16 *before* the reference is computed, so upcasting them to float32 on load gives
  exactly the weights the reference ran with.
* ``config.json``: the HF config (``BertConfig.to_dict()``, sorted keys).
* ``reference.json``: three id sequences of different lengths, right-padded with 0 into one
  batch with an attention mask, and what ``BertModel`` (float32, eager attention, eval mode)
  gives for them: ``hidden`` (the last hidden state of the *real* positions only, sequence by
  sequence, each position's ``hidden_size`` values, flattened) and ``pooled`` (sentence-
  transformers' mean pooling over the mask, ``[3, hidden_size]``, flattened). Values are
  rounded to 7 significant digits.

The output is byte-identical on rerun (fixed seed, one torch thread). How it was run::

    /work/scratch-text/venv/bin/python python/text/make_tiny_bert.py
    # torch 2.15.0, transformers 5.24.0, safetensors 0.8.0 (see python/text/README.md)

Pass ``--out DIR`` to write elsewhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "text" / "tiny_bert"
SEED = 20240611
PREFIX = "bert."

# [CLS]=2 ... [SEP]=3, padded with [PAD]=0 below.
SEQUENCES = [
    [2, 17, 41, 5, 63, 28, 50, 3],
    [2, 33, 3],
    [2, 8, 61, 44, 3],
]


def sig7(x: float) -> float:
    """Round to 7 significant digits (float32 carries ~7.2)."""
    return float(f"{x:.7g}")


def build() -> transformers.BertModel:
    """The tiny model, perturbed away from its initialisation and rounded to float16 values."""
    torch.manual_seed(SEED)
    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=32,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        position_embedding_type="absolute",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config._attn_implementation = "eager"
    model = transformers.BertModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias") or "LayerNorm.bias" in name:
                p.copy_(0.1 * torch.randn_like(p))
            elif ".self.query.weight" in name or ".self.key.weight" in name:
                p.copy_(0.3 * torch.randn_like(p))
            elif name.endswith(".weight") and p.dim() == 2 and "embeddings" not in name:
                p.copy_(0.15 * torch.randn_like(p))
            elif "embeddings" in name:
                p.copy_(0.5 * torch.randn_like(p))
            # Round to what float16 storage keeps, so the file reproduces these weights.
            p.copy_(p.half().float())
    return model


def batch(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad with 0 into ``ids`` and ``mask`` ``[B, L]`` (int64)."""
    length = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), length, dtype=torch.long)
    mask = torch.zeros(len(seqs), length, dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    return ids, mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="folder to write the fixture into")
    args = ap.parse_args()
    torch.set_num_threads(1)

    model = build()
    ids, mask = batch(SEQUENCES)
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, L, H]
    m = mask[..., None].float()
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)

    args.out.mkdir(parents=True, exist_ok=True)
    state = {PREFIX + k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    position_ids = PREFIX + "embeddings.position_ids"
    if position_ids not in state:  # persisted by older transformers, as in all-MiniLM-L6-v2
        state[position_ids] = torch.arange(model.config.max_position_embeddings)[None]
    save_file(dict(sorted(state.items())), str(args.out / "model.safetensors"),
              metadata={"format": "pt"})

    keep = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "max_position_embeddings", "type_vocab_size", "hidden_act",
            "layer_norm_eps", "position_embedding_type", "hidden_dropout_prob",
            "attention_probs_dropout_prob", "initializer_range", "pad_token_id"]
    cfg = model.config.to_dict()
    config = {"architectures": ["BertModel"], "model_type": "bert",
              **{k: cfg[k] for k in keep}}
    (args.out / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")

    reference = {
        "producer": {
            "script": "python/text/make_tiny_bert.py",
            "seed": SEED,
            "torch_version": torch.__version__,
            "transformers_version": transformers.__version__,
            "dtype": "float32 (weights rounded to float16 values, stored as float16)",
            "name_prefix": PREFIX,
        },
        "hidden_size": model.config.hidden_size,
        "batch": {"ids": ids.tolist(), "mask": mask.tolist()},
        "hidden_layout": "real positions only: for each sequence in order, for each of its "
                         "len(sequence) positions, hidden_size values",
        "hidden": [sig7(float(v)) for r, s in enumerate(SEQUENCES)
                   for v in hidden[r, : len(s)].reshape(-1)],
        "pooled_layout": "[batch, hidden_size], row-major",
        "pooled": [sig7(float(v)) for v in pooled.reshape(-1)],
    }
    # One top-level key a line, the lists compact.
    lines = [f" {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
             for k, v in reference.items()]
    (args.out / "reference.json").write_text("{\n" + ",\n".join(lines) + "\n}\n")
    (args.out / "model.safetensors").chmod(0o644)  # save_file creates it 0600
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"wrote {args.out} ({total} bytes); pooled[0][:4] = {pooled[0, :4].tolist()}")


if __name__ == "__main__":
    main()
