"""Transformer networks of the zoo: BERT (base/large), ViT-B/16 and LLaMA-2-7B.

Attention is written per head as activation × activation products (``MatMulOp`` with
``batch = B · heads``): scores ``Q·Kᵀ`` (``m`` = new tokens, ``k`` = head dim, ``n`` = context)
and context ``P·V``; both are counted dense, as frameworks compute them (a causal mask does not
skip work). Q, K and V are separate projections (as in Hugging Face's BERT and LLaMA; the MACs
equal a fused QKV). The ``1/√d`` score scale is taken as folded into the Q projection.
Splitting heads is a free view; merging them back is a free view too (the context product
writes the merged layout directly).
"""

from __future__ import annotations

from .netbuilder import NetBuilder

__all__ = ["bert", "vit_b16", "llama2_7b", "BERT_CONFIGS", "LLAMA2_7B"]

#: (layers, hidden, heads, ffn) of the BERT checkpoints (bert-base/large-uncased).
BERT_CONFIGS = {"bert-base": (12, 768, 12, 3072), "bert-large": (24, 1024, 16, 4096)}
_BERT_VOCAB, _BERT_POSITIONS = 30522, 512

#: LLaMA-2-7B (Touvron et al. 2023; Hugging Face ``config.json``).
LLAMA2_7B = {"layers": 32, "hidden": 4096, "heads": 32, "ffn": 11008, "vocab": 32000,
             "context": 4096}


def _attention(
    nb: NetBuilder, p: str, x: str, hidden: int, heads: int, *, bias: bool,
    names=("q", "k", "v", "out"), rope: bool = False, past: int = 0,
) -> str:
    """Multi-head self-attention on ``x`` ``(B, T, hidden)``; returns the output projection.

    With ``past`` cached tokens (decode), K and V of the cache are graph inputs
    ``{p}.k_cache``/``{p}.v_cache`` ``(B, heads, past, head_dim)`` read by the two products,
    and this step's K and V become graph outputs (the cache entries the step appends).
    """
    b, t, _ = nb.shapes[x]
    hd, ctx = hidden // heads, past + t
    q = nb.linear(f"{p}.{names[0]}", x, hidden, bias)
    k = nb.linear(f"{p}.{names[1]}", x, hidden, bias)
    v = nb.linear(f"{p}.{names[2]}", x, hidden, bias)
    if rope:
        q = nb.vector(f"{p}.rope_q", "rope", [q])
        k = nb.vector(f"{p}.rope_k", "rope", [k])
    extra_k = extra_v = ()
    if past:
        extra_k = (nb.input(f"{p}.k_cache", (b, heads, past, hd)),)
        extra_v = (nb.input(f"{p}.v_cache", (b, heads, past, hd)),)
    if rope:  # decoder: this step's K/V are the new cache entries
        nb.output(k)
        nb.output(v)
    s = nb.matmul(f"{p}.scores", q, k, batch=b * heads, m=t, k=hd, n=ctx,
                  out_shape=(b, heads, t, ctx), extra_inputs=extra_k)
    s = nb.vector(f"{p}.softmax", "softmax", [s])
    c = nb.matmul(f"{p}.context", s, v, batch=b * heads, m=t, k=ctx, n=hd,
                  out_shape=(b, t, hidden), extra_inputs=extra_v)
    return nb.linear(f"{p}.{names[3]}", c, hidden, bias)


def _layernorm(nb: NetBuilder, name: str, x: str, kind: str = "layernorm") -> str:
    width = nb.shapes[x][-1]
    nb.param(name, 2 * width if kind == "layernorm" else width)
    return nb.vector(name, kind, [x])


def bert(nb: NetBuilder, batch: int, seq_len: int, model: str) -> None:
    """BERT encoder (post-LN) with embeddings and pooler, as ``BertModel``."""
    layers, hidden, heads, ffn = BERT_CONFIGS[model]
    ids = nb.input("input_ids", (batch, seq_len), "int64")
    nb.param("embeddings.word_embeddings", _BERT_VOCAB * hidden)
    nb.param("embeddings.position_embeddings", _BERT_POSITIONS * hidden)
    nb.param("embeddings.token_type_embeddings", 2 * hidden)
    x = nb.data("embeddings.word_embeddings", "gather", [ids], (batch, seq_len, hidden), False)
    x = nb.vector("embeddings.add", "add", [x], count=2)  # + position + token type
    x = _layernorm(nb, "embeddings.LayerNorm", x)
    for i in range(layers):
        p = f"encoder.{i}"
        a = _attention(nb, f"{p}.attn", x, hidden, heads, bias=True)
        x = _layernorm(nb, f"{p}.attn.norm", nb.vector(f"{p}.attn.add", "add", [a, x]))
        h = nb.linear(f"{p}.ffn.up", x, ffn)
        h = nb.linear(f"{p}.ffn.down", nb.vector(f"{p}.ffn.gelu", "gelu", [h]), hidden)
        x = _layernorm(nb, f"{p}.ffn.norm", nb.vector(f"{p}.ffn.add", "add", [h, x]))
    nb.output(x)
    cls = nb.data("pooler.first_token", "slice", [x], (batch, hidden))
    nb.output(nb.vector("pooler.tanh", "tanh", [nb.linear("pooler.dense", cls, hidden)]))


def vit_b16(nb: NetBuilder, batch: int) -> None:
    """ViT-B/16 at 224×224 (197 tokens) with torchvision's layer names."""
    hidden, heads, mlp, tokens = 768, 12, 3072, 197
    x = nb.input("input", (batch, 3, 224, 224))
    x = nb.conv("conv_proj", x, hidden, 16, 16, 0, bn=False, bias=True)
    x = nb.data("patchify", "transpose", [x], (batch, tokens - 1, hidden), free=False)
    nb.param("class_token", hidden)
    x = nb.data("class_token", "concat", [x], (batch, tokens, hidden), free=False)
    nb.param("encoder.pos_embedding", tokens * hidden)
    x = nb.vector("encoder.pos_embedding", "add", [x])
    for i in range(12):
        p = f"encoder.layers.encoder_layer_{i}"
        h = _layernorm(nb, f"{p}.ln_1", x)
        h = _attention(nb, f"{p}.self_attention", h, hidden, heads, bias=True,
                       names=("q_proj", "k_proj", "v_proj", "out_proj"))
        x = nb.vector(f"{p}.add_1", "add", [h, x])
        h = nb.linear(f"{p}.mlp.0", _layernorm(nb, f"{p}.ln_2", x), mlp)
        h = nb.linear(f"{p}.mlp.3", nb.vector(f"{p}.mlp.1", "gelu", [h]), hidden)
        x = nb.vector(f"{p}.add_2", "add", [h, x])
    x = _layernorm(nb, "encoder.ln", x)
    x = nb.data("class_token_out", "slice", [x], (batch, hidden))
    nb.output(nb.linear("heads.head", x, 1000))


def llama2_7b(nb: NetBuilder, batch: int, tokens: int, past: int) -> None:
    """LLaMA-2-7B (pre-RMSNorm, RoPE, SwiGLU, untied LM head) on ``tokens`` new tokens.

    ``past`` cached tokens precede them (0 for a plain prefill; decode is ``tokens = 1``).
    The LM head runs on the last position only (the next token's logits).
    """
    c = LLAMA2_7B
    hidden, ffn = c["hidden"], c["ffn"]
    ids = nb.input("input_ids", (batch, tokens), "int64")
    nb.param("model.embed_tokens", c["vocab"] * hidden)
    x = nb.data("model.embed_tokens", "gather", [ids], (batch, tokens, hidden), False)
    for i in range(c["layers"]):
        p = f"model.layers.{i}"
        h = _layernorm(nb, f"{p}.input_layernorm", x, "rmsnorm")
        h = _attention(nb, f"{p}.self_attn", h, hidden, c["heads"], bias=False,
                       names=("q_proj", "k_proj", "v_proj", "o_proj"), rope=True, past=past)
        x = nb.vector(f"{p}.add_1", "add", [h, x])
        h = _layernorm(nb, f"{p}.post_attention_layernorm", x, "rmsnorm")
        g = nb.linear(f"{p}.mlp.gate_proj", h, ffn, bias=False)
        u = nb.linear(f"{p}.mlp.up_proj", h, ffn, bias=False)
        g = nb.vector(f"{p}.mlp.act_fn", "silu", [g])
        h = nb.linear(f"{p}.mlp.down_proj", nb.vector(f"{p}.mlp.mul", "mul", [g, u]), hidden,
                      bias=False)
        x = nb.vector(f"{p}.add_2", "add", [h, x])
    x = _layernorm(nb, "model.norm", x, "rmsnorm")
    if tokens > 1:
        x = nb.data("last_token", "slice", [x], (batch, 1, hidden))
    nb.output(nb.linear("lm_head", x, c["vocab"], bias=False))
