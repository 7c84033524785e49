"""Operator tables of the torch.fx front end: names, costs and helpers that need no torch.

Every traced node has a *key*: the class name of a ``torch.nn`` leaf module (``Linear``,
``Conv2d``, ``ReLU``), or the name of a called function or tensor method with in-place and
reflected spellings folded (``add_``, ``iadd``, ``__radd__`` → ``add``). The key is the op's
``op_type``, what ``passthrough`` names, and what :func:`supported_operators` lists.

Vector costs (lane operations per output element) are the ONNX front end's
(:data:`mapper.frontends.onnx.VECTOR_COST`) for the operator a torch exporter emits: ``silu``
is ONNX's ``Sigmoid`` + ``Mul`` = 10, ``rsqrt`` one special function (4), ``rms_norm`` the zoo's 4
(:data:`mapper.netbuilder.VECTOR_COST`), a comparison or cast 1. Pools cost their window
(``kh·kw``; the mean input span per output for adaptive pools), reductions the reduced length.
"""

from __future__ import annotations

from .onnx import SPECIAL
from .onnx import VECTOR_COST as _ONNX_COST

__all__ = ["TORCH_COST", "MODULE_KEYS", "REDUCE", "POOL", "FREE_DATA", "COPY_DATA", "CAST",
           "GEMM_FUNCTIONS", "GEMM_MODULES", "normalize_key", "supported_operators"]

#: torch key -> the ONNX operator whose documented cost it takes.
_AS_ONNX = {
    "add": "Add", "sub": "Sub", "rsub": "Sub", "mul": "Mul", "truediv": "Div", "div": "Div",
    "floordiv": "Div", "floor_divide": "Div", "remainder": "Mod", "mod": "Mod", "neg": "Neg",
    "abs": "Abs", "sign": "Sign", "floor": "Floor", "ceil": "Ceil", "round": "Round",
    "pow": "Pow", "sqrt": "Sqrt", "rsqrt": "Reciprocal", "reciprocal": "Reciprocal",
    "exp": "Exp", "log": "Log", "erf": "Erf", "sin": "Sin", "cos": "Cos",
    "maximum": "Max", "minimum": "Min", "eq": "Equal", "ne": "Equal", "lt": "Less",
    "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual", "logical_and": "And",
    "logical_or": "Or", "logical_not": "Not", "isnan": "IsNaN", "where": "Where",
    "masked_fill": "Where", "cumsum": "CumSum",
    "relu": "Relu", "relu6": "Clip", "hardtanh": "Clip", "clamp": "Clip",
    "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh",
    "hardsigmoid": "HardSigmoid", "hardswish": "HardSwish", "gelu": "Gelu", "elu": "Elu",
    "celu": "Celu", "selu": "Selu", "softplus": "Softplus", "softsign": "Softsign",
    "mish": "Mish", "prelu": "PRelu", "softmax": "Softmax", "log_softmax": "LogSoftmax",
    "layer_norm": "LayerNormalization", "group_norm": "GroupNormalization",
    "instance_norm": "InstanceNormalization", "batch_norm": "BatchNormalization",
    "normalize": "LpNormalization",
}
#: key -> (category, lane operations per output element).
TORCH_COST: dict[str, tuple[str, float]] = {k: _ONNX_COST[v] for k, v in _AS_ONNX.items()}
TORCH_COST["silu"] = ("activation", _ONNX_COST["Sigmoid"][1] + 1)  # x · sigmoid(x)
TORCH_COST["rsqrt"] = ("elementwise", SPECIAL)
TORCH_COST["rms_norm"] = ("norm", 4)  # square, sum, ·rsqrt, ·γ (as the zoo's rmsnorm)

#: ``torch.nn`` leaf module class -> key of the function it applies.
MODULE_KEYS = {
    "ReLU": "relu", "ReLU6": "relu6", "Hardtanh": "hardtanh", "LeakyReLU": "leaky_relu",
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardsigmoid": "hardsigmoid",
    "Hardswish": "hardswish", "GELU": "gelu", "SiLU": "silu", "ELU": "elu", "CELU": "celu",
    "SELU": "selu", "Softplus": "softplus", "Softsign": "softsign", "Mish": "mish",
    "PReLU": "prelu", "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "LayerNorm": "layer_norm", "GroupNorm": "group_norm", "InstanceNorm1d": "instance_norm",
    "InstanceNorm2d": "instance_norm", "RMSNorm": "rms_norm", "BatchNorm1d": "batch_norm",
    "BatchNorm2d": "batch_norm", "Dropout": "dropout", "Dropout1d": "dropout",
    "Dropout2d": "dropout", "AlphaDropout": "dropout", "Identity": "identity",
    "Flatten": "flatten", "Unflatten": "unflatten", "Embedding": "embedding",
    "ZeroPad1d": "pad", "ZeroPad2d": "pad", "ConstantPad1d": "pad", "ConstantPad2d": "pad",
    "ReflectionPad1d": "pad", "ReflectionPad2d": "pad", "ReplicationPad1d": "pad",
    "ReplicationPad2d": "pad", "PixelShuffle": "pixel_shuffle",
    "PixelUnshuffle": "pixel_unshuffle", "ChannelShuffle": "channel_shuffle",
    "Upsample": "interpolate", "MaxPool1d": "max_pool1d", "MaxPool2d": "max_pool2d",
    "AvgPool1d": "avg_pool1d", "AvgPool2d": "avg_pool2d",
    "AdaptiveAvgPool1d": "adaptive_avg_pool1d", "AdaptiveAvgPool2d": "adaptive_avg_pool2d",
    "AdaptiveMaxPool1d": "adaptive_max_pool1d", "AdaptiveMaxPool2d": "adaptive_max_pool2d",
}
#: Reductions: one lane operation per reduced input element.
REDUCE = {"mean", "sum", "amax", "amin", "max", "min", "prod", "var", "std", "norm", "argmax",
          "argmin", "logsumexp", "all", "any"}
#: Pools (fixed window: ``kernel_size``; adaptive: mean input span per output).
POOL = {"max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
        "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"}
#: Views, shape bookkeeping and constant creation: free.
FREE_DATA = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "contiguous",
             "expand", "expand_as", "view_as", "reshape_as", "detach", "dropout", "identity",
             "alpha_dropout", "feature_alpha_dropout", "arange", "zeros", "ones", "full",
             "zeros_like", "ones_like", "full_like", "empty", "empty_like", "cpu", "cuda",
             "requires_grad"}
#: Data movement that copies its output (cost: output bytes), as the ONNX Transpose, Concat,
#: Split, Slice, Gather, Pad, Tile... it exports to.
COPY_DATA = {"permute", "transpose", "t", "cat", "stack", "split", "chunk", "unbind",
             "getitem", "narrow", "select", "index_select", "gather", "roll", "repeat",
             "repeat_interleave", "tile", "pad", "clone", "flip", "tril", "triu", "embedding",
             "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "movedim"}
#: Dtype conversions: a cast (cost 1) when the dtype changes, free otherwise.
CAST = {"to", "type", "type_as", "float", "half", "double", "bfloat16", "int", "long", "bool"}
#: Functions (and methods) with a weight or a second activation operand.
GEMM_FUNCTIONS = {"linear", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d",
                  "matmul", "mm", "bmm", "addmm", "einsum", "scaled_dot_product_attention"}
#: Leaf modules that become GEMMs (MultiheadAttention: projections, two products, softmax).
GEMM_MODULES = {"Linear", "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
                "MultiheadAttention", "BatchNorm1d", "BatchNorm2d"}

_ALIASES = {"iadd": "add", "radd": "add", "isub": "sub", "imul": "mul", "rmul": "mul",
            "itruediv": "truediv", "rtruediv": "truediv", "rdiv": "truediv", "concat": "cat",
            "concatenate": "cat", "swapaxes": "transpose", "swapdims": "transpose",
            "clip": "clamp", "and": "logical_and", "or": "logical_or", "invert": "logical_not",
            "greater": "gt", "less": "lt", "multiply": "mul", "subtract": "sub",
            "divide": "div", "true_divide": "div", "absolute": "abs", "negative": "neg"}


def normalize_key(name: str) -> str:
    """A function or method name folded to its key (``add_``/``__iadd__``/``iadd`` → ``add``)."""
    key = name.strip("_")
    return _ALIASES.get(key, key)


def supported_operators() -> list[str]:
    """Every module class and function/method key the torch.fx front end maps, sorted."""
    keys = (set(TORCH_COST) | REDUCE | POOL | FREE_DATA | COPY_DATA | CAST | GEMM_FUNCTIONS
            | GEMM_MODULES | set(MODULE_KEYS) | {"interpolate", "getattr"})
    return sorted(keys)
