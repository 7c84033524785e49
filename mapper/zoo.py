"""Built-in zoo of real network shapes (no weights): an :class:`~mapper.graph.OpGraph` per name.

Every weight layer is a :class:`~mapper.graph.GemmOp` (convolutions a
:class:`~mapper.graph.ConvOp`) with ``weight=None`` and ``sparsity=None``: dense as given, the
pruning step or the engines then apply a declared pattern. Non-GEMM work is in the graph too
(softmax, normalisation, activations, residual adds, pooling as
:class:`~mapper.graph.VectorOp` costed by :data:`mapper.netbuilder.VECTOR_COST`; embeddings,
reshapes and slices as :class:`~mapper.graph.DataOp`), with edges carrying tensor names and
bytes, so the scheduler sees the dependency DAG, residual branches included.

Conventions: CNNs take a 224×224 RGB image, fold BatchNorm into the convolution (see
:mod:`mapper._zoo_cnn`) and use torchvision's layer names; transformers are described in
:mod:`mapper._zoo_transformer` (Hugging Face names for BERT and LLaMA, torchvision's for ViT).
Activations are float32, except LLaMA-2-7B (float16, as released). ``graph.meta`` holds the
build parameters, ``tensors`` (every tensor's shape, graph inputs included) and
``extra_params`` (parameters outside GEMM weights: biases, norms, embeddings, folded BN), so
:func:`mapper.netbuilder.param_count` gives the model's full parameter count.

The MAC counts equal the published ones (``tests/test_mapper_zoo.py``): ResNet-18 1.814 G,
ResNet-50 4.089 G, VGG-16 15.47 G, MobileNet-v2 0.301 G, ViT-B/16 17.56 G (torchvision's
figures, attention products included), MobileNet-v1 0.569 G (Howard et al. 2017).
"""

from __future__ import annotations

from hwsim.errors import ConfigError

from . import _zoo_cnn as cnn
from . import _zoo_transformer as tf
from .graph import OpGraph
from .netbuilder import NetBuilder, param_count

__all__ = ["ZOO_MODELS", "zoo_graph", "param_count"]

#: Zoo model name -> one-line description.
ZOO_MODELS: dict[str, str] = {
    "bert-base": "BERT-base encoder (12 layers, hidden 768, 12 heads) + pooler; seq_len tokens",
    "bert-large": "BERT-large encoder (24 layers, hidden 1024, 16 heads) + pooler; seq_len tokens",
    "llama2-7b": "LLaMA-2-7B decoder (32 layers, hidden 4096, SwiGLU 11008, vocab 32000); "
    "phase prefill (seq_len tokens) or decode (1 token over kv_len cached)",
    "resnet18": "ResNet-18, 224x224 (torchvision)",
    "resnet50": "ResNet-50 v1.5, 224x224 (torchvision)",
    "mobilenet-v1": "MobileNet v1 1.0-224 (depthwise separable)",
    "mobilenet-v2": "MobileNet v2 1.0-224 (inverted residuals, torchvision)",
    "vgg16": "VGG-16 (configuration D), 224x224 (torchvision)",
    "vit-b16": "ViT-B/16, 224x224, 197 tokens (torchvision)",
}

_LLM = ("llama2-7b",)
_SEQ_MODELS = ("bert-base", "bert-large", "llama2-7b")
PHASES = ("prefill", "decode")


def _positive_int(value, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be an integer >= 1, got {value!r}", key=key)
    return int(value)


def _check(name, batch, seq_len, kv_len, phase) -> None:
    if name not in ZOO_MODELS:
        raise ConfigError(
            f"unknown zoo model {name!r}; the zoo has: {', '.join(ZOO_MODELS)}", key="model"
        )
    _positive_int(batch, "batch")
    _positive_int(seq_len, "seq_len")
    if phase not in PHASES:
        raise ConfigError(f"must be one of {PHASES}, got {phase!r}", key="phase")
    if name not in _LLM:
        if phase != "prefill":
            raise ConfigError(f"only {', '.join(_LLM)} has a decode phase, not {name!r}",
                              key="phase")
        if kv_len is not None:
            raise ConfigError(f"a KV cache applies to {', '.join(_LLM)} only, not {name!r}",
                              key="kv_len")
    if kv_len is not None and (isinstance(kv_len, bool) or not isinstance(kv_len, int)
                               or kv_len < 0):
        raise ConfigError(f"must be an integer >= 0, got {kv_len!r}", key="kv_len")
    if name.startswith("bert") and seq_len > 512:
        raise ConfigError(f"BERT has 512 position embeddings; got {seq_len}", key="seq_len")


def zoo_graph(
    name: str, *, batch: int = 1, seq_len: int = 128, kv_len: int | None = None,
    phase: str = "prefill",
) -> OpGraph:
    """The operation graph of zoo model ``name`` (shapes only, no weights).

    Parameters
    ----------
    name : str
        A key of :data:`ZOO_MODELS`.
    batch : int
        Batch size (images or sequences).
    seq_len : int
        Tokens of a BERT input or of a LLaMA prefill; for a LLaMA decode, the default cache
        length. Ignored by the image models.
    kv_len : int, optional
        LLaMA only: tokens already in the KV cache. Decode: one new token attends to
        ``kv_len`` cached tokens plus itself (default ``kv_len = seq_len``). Prefill: the
        ``seq_len`` new tokens follow ``kv_len`` cached ones (default 0).
    phase : {"prefill", "decode"}
        LLaMA only.

    Returns
    -------
    OpGraph
        ``meta`` holds ``front_end="zoo"``, ``model``, ``batch``, ``seq_len``, ``phase``,
        ``kv_len``, ``tokens`` (new tokens per sequence), ``bn``, ``tensors`` and
        ``extra_params``.

    Raises
    ------
    ConfigError
        Unknown model (the message lists the zoo) or a bad parameter (named by ``key``).
    """
    _check(name, batch, seq_len, kv_len, phase)
    nb = NetBuilder(name, "float16" if name in _LLM else "float32")
    tokens, past = None, None
    if name in ("resnet18", "resnet50"):
        cnn.resnet(nb, batch, 18 if name == "resnet18" else 50)
    elif name == "vgg16":
        cnn.vgg16(nb, batch)
    elif name == "mobilenet-v1":
        cnn.mobilenet_v1(nb, batch)
    elif name == "mobilenet-v2":
        cnn.mobilenet_v2(nb, batch)
    elif name == "vit-b16":
        tf.vit_b16(nb, batch)
    elif name in tf.BERT_CONFIGS:
        tokens = seq_len
        tf.bert(nb, batch, seq_len, name)
    else:
        tokens = 1 if phase == "decode" else seq_len
        past = (seq_len if phase == "decode" else 0) if kv_len is None else kv_len
        if past + tokens > tf.LLAMA2_7B["context"]:
            raise ConfigError(
                f"{past} cached + {tokens} new tokens exceed LLaMA-2's "
                f"{tf.LLAMA2_7B['context']}-token context", key="kv_len" if past else "seq_len",
            )
        tf.llama2_7b(nb, batch, tokens, past)
    return nb.done(
        front_end="zoo", model=name, batch=batch,
        seq_len=seq_len if name in _SEQ_MODELS else None,
        phase=phase if name in _LLM else None, kv_len=past, tokens=tokens,
        bn="folded into the preceding conv (op.bias); affine params in extra_params",
    )
