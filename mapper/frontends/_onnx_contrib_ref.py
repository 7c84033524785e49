"""NumPy reference implementations of ONNX Runtime's fused transformer operators.

``onnx.reference`` runs only standard operators; the end-to-end check
(:func:`mapper.check.check_network`) also needs the ``com.microsoft`` operators that ONNX
Runtime's transformer optimizer writes (``Attention``, ``MultiHeadAttention``,
``GroupQueryAttention``, ``QAttention``, ``SkipLayerNormalization``,
``SkipSimplifiedLayerNormalization``, ``EmbedLayerNormalization``, ``FastGelu``, ``BiasGelu``,
``Gelu``, ``QuickGelu``, ``BiasAdd``, ``RotaryEmbedding``) and ``SimplifiedLayerNormalization``
(registered by ONNX Runtime in the default domain). These follow the contrib operator
documentation of ONNX Runtime for the forms the front end maps (no packed/varlen batching, no
shared KV buffers).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["reference_ops", "attention_core"]

_SQRT_2_PI = 0.7978845608028654


def _gelu(x):
    return (0.5 * x * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2.0))
                       )).astype(x.dtype)


def _layer_norm(x, gamma, beta, eps, simplified=False):
    xf = x.astype(np.float64)
    if simplified:
        mean = np.zeros(xf.shape[:-1] + (1,))
        var = np.mean(xf * xf, axis=-1, keepdims=True)
    else:
        mean = np.mean(xf, axis=-1, keepdims=True)
        var = np.mean((xf - mean) ** 2, axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    y = (xf - mean) * inv * gamma + (0 if beta is None else beta)
    return y.astype(x.dtype), mean.astype(np.float32), inv.astype(np.float32)


def _heads(x, n):
    """``[B, S, n·h]`` → ``[B, n, S, h]``."""
    b, s, d = x.shape
    return x.reshape(b, s, n, d // n).transpose(0, 2, 1, 3)


def attention_core(q, k, v, *, scale=None, mask=None, causal=False, past_len=0,
                   filter_value=-10000.0):
    """``softmax(q·kᵀ·scale + mask) · v`` on ``[B, N, S, h]`` heads; ``mask`` is additive,
    broadcast to ``[B, N, S, T]``; ``causal`` masks key ``j > past_len + i``."""
    h = q.shape[-1]
    scale = 1.0 / math.sqrt(h) if not scale else scale
    s = (q.astype(np.float64) @ np.swapaxes(k, -1, -2).astype(np.float64)) * scale
    if mask is not None:
        s = s + mask
    if causal:
        t, sq = k.shape[-2], q.shape[-2]
        allowed = np.arange(t)[None, :] <= (past_len + np.arange(sq))[:, None]
        s = np.where(allowed, s, filter_value)
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    p = e / e.sum(axis=-1, keepdims=True)
    return (p @ v.astype(np.float64)).astype(q.dtype)


def _merge(x):
    """``[B, N, S, h]`` → ``[B, S, N·h]``."""
    b, n, s, h = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, n * h)


def _mask(mask_index, b, t, filter_value):
    """Additive mask ``[B, 1, 1|S, T]`` from a ``mask_index`` (lengths ``[B]``, a 0/1 key mask
    ``[B, T]`` or ``[B, S, T]``)."""
    if mask_index is None:
        return None
    m = np.asarray(mask_index)
    if m.ndim == 1:
        keep = np.arange(t)[None, :] < m[:b, None]
        return np.where(keep, 0.0, filter_value)[:, None, None, :]
    if m.ndim == 2:
        return ((1.0 - m.astype(np.float64)) * filter_value)[:, None, None, :]
    return ((1.0 - m.astype(np.float64)) * filter_value)[:, None, :, :]


def _masked_attention(q, k, v, mask_in, attention_bias, *, scale, unidirectional, past_len,
                      mask_filter_value):
    """Attention (heads layout) under a contrib op's key mask and optional additive bias."""
    fv = -10000.0 if mask_filter_value is None else mask_filter_value
    mask = _mask(mask_in, q.shape[0], k.shape[2], fv)
    if attention_bias is not None:
        mask = attention_bias if mask is None else mask + attention_bias
    return attention_core(q, k, v, scale=scale, mask=mask, causal=bool(unidirectional),
                          past_len=past_len, filter_value=fv)


def _rotary(x, pos, cos, sin, interleaved=False):
    """Rotate the first ``2·cos.shape[1]`` features of ``x [B, N, S, h]`` by position."""
    half = cos.shape[-1]
    c, s = cos[pos][:, None], sin[pos][:, None]  # [B, 1, S, half]
    r = x[..., :2 * half].astype(np.float64)
    if interleaved:
        x1, x2 = r[..., 0::2], r[..., 1::2]
        out = np.stack([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1).reshape(r.shape)
    else:
        x1, x2 = r[..., :half], r[..., half:]
        out = np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)
    return np.concatenate([out.astype(x.dtype), x[..., 2 * half:]], axis=-1)


def reference_ops() -> list:
    """``onnx.reference`` operator classes for the fused transformer operators."""
    from onnx.reference.op_run import OpRun

    class _Named(OpRun):
        """Values only for the node's named outputs (``onnx.reference`` would otherwise
        store an unnamed optional output under ``""``, which later nodes read for their
        absent optional inputs)."""

        def run(self, *args, **kwargs):
            res = super().run(*args, **kwargs)
            return tuple(r if name else None for name, r in zip(self.onnx_node.output, res,
                                                                 strict=False))

    class _MS(_Named):
        op_domain = "com.microsoft"

    class FastGelu(_MS):
        def _run(self, x, bias=None, **_):
            x = x if bias is None else x + bias
            return ((0.5 * x * (1 + np.tanh(_SQRT_2_PI * (x + 0.044715 * x ** 3))))
                    .astype(x.dtype),)

    class BiasGelu(_MS):
        def _run(self, x, bias, **_):
            return (_gelu(x + bias),)

    class Gelu(_MS):
        def _run(self, x, **_):
            return (_gelu(x),)

    class QuickGelu(_MS):
        def _run(self, x, alpha=None, **_):
            a = 1.702 if alpha is None else alpha
            return ((x / (1 + np.exp(-a * x))).astype(x.dtype),)

    class BiasAdd(_MS):
        def _run(self, x, bias, skip, **_):
            return (x + bias + skip,)

    class SkipLayerNormalization(_MS):
        def _run(self, x, skip, gamma, beta=None, bias=None, epsilon=None):
            s = x + skip + (0 if bias is None else bias)
            y, mean, inv = _layer_norm(s, gamma, beta, 1e-12 if epsilon is None else epsilon)
            return y, mean, inv, s

    class SkipSimplifiedLayerNormalization(_MS):
        def _run(self, x, skip, gamma, bias=None, epsilon=None):
            s = x + skip + (0 if bias is None else bias)
            y, mean, inv = _layer_norm(s, gamma, None, 1e-12 if epsilon is None else epsilon,
                                       simplified=True)
            return y, mean, inv, s

    class SimplifiedLayerNormalization(_Named):
        op_domain = ""

        def _run(self, x, scale, axis=None, epsilon=None, stash_type=None):
            y, _mean, inv = _layer_norm(x, scale, None, 1e-5 if epsilon is None else epsilon,
                                        simplified=True)
            return y, inv

    class EmbedLayerNormalization(_MS):
        def _run(self, ids, seg, wemb, pemb, semb=None, gamma=None, beta=None, mask=None,
                 pos_ids=None, epsilon=None, mask_index_type=None):
            b, s = ids.shape
            pos = np.broadcast_to(np.arange(s), (b, s)) if pos_ids is None else pos_ids
            e = wemb[ids] + pemb[np.broadcast_to(pos, (b, s))]
            if seg is not None and semb is not None:
                e = e + semb[seg]
            y, _m, _i = _layer_norm(e, gamma, beta, 1e-12 if epsilon is None else epsilon)
            idx = (np.zeros(b, np.int32) if mask is None
                   else np.sum(mask != 0, axis=1).astype(np.int32))
            return y, idx, e

    class RotaryEmbedding(_MS):
        def _run(self, x, pos_ids, cos, sin, interleaved=None, num_heads=None,
                 rotary_embedding_dim=None, scale=None, is_packed_batching=None):
            three = x.ndim == 3
            b, s = x.shape[0], x.shape[1] if three else x.shape[2]
            n = num_heads or (x.shape[2] // (2 * cos.shape[1]) if three else x.shape[1])
            xh = _heads(x, n) if three else x
            pos = np.asarray(pos_ids)
            pos = (pos.reshape(-1)[0] + np.arange(s))[None].repeat(b, 0) if pos.size == 1 \
                else pos
            y = _rotary(xh, pos, cos, sin, bool(interleaved))
            return (_merge(y) if three else y,)

    return [FastGelu, BiasGelu, Gelu, QuickGelu, BiasAdd, SkipLayerNormalization,
            SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization,
            EmbedLayerNormalization, RotaryEmbedding, *_attention_ops(_MS)]


def _attention_ops(base) -> list:
    class Attention(base):
        def _run(self, x, w, bias=None, mask_index=None, past=None, attention_bias=None,
                 past_sequence_length=None, num_heads=None, qkv_hidden_sizes=None,
                 unidirectional=None, scale=None, mask_filter_value=None, **_):
            n = int(num_heads)
            d = w.shape[1] // 3
            dq, dk, dv = qkv_hidden_sizes if qkv_hidden_sizes is not None else (d, d, d)
            qkv = x @ w + (0 if bias is None else bias)
            q, k, v = (_heads(qkv[..., :dq], n), _heads(qkv[..., dq:dq + dk], n),
                       _heads(qkv[..., dq + dk:dq + dk + dv], n))
            p = 0
            if past is not None:
                p = past.shape[3]
                k, v = np.concatenate([past[0], k], 2), np.concatenate([past[1], v], 2)
            y = _masked_attention(q, k, v, mask_index, attention_bias, scale=scale,
                                  unidirectional=unidirectional, past_len=p,
                                  mask_filter_value=mask_filter_value)
            return _merge(y), np.stack([k, v])

    class QAttention(base):
        def _run(self, x, w, bias, x_scale, w_scale, mask_index=None, x_zp=None, w_zp=None,
                 past=None, **attrs):
            xf = ((x.astype(np.int32) - (0 if x_zp is None else x_zp.astype(np.int32)))
                  * x_scale).astype(np.float32)
            wf = ((w.astype(np.int32) - (0 if w_zp is None else w_zp.astype(np.int32)))
                  * w_scale).astype(np.float32)
            return Attention._run(self, xf, wf, bias, mask_index, past, **attrs)

    class MultiHeadAttention(base):
        def _run(self, q, k=None, v=None, bias=None, key_padding_mask=None,
                 attention_bias=None, past_key=None, past_value=None, *_, num_heads=None,
                 scale=None, mask_filter_value=None, unidirectional=None, **__):
            n = int(num_heads)
            if k is None:  # packed QKV [B, S, N, 3, h]
                qh, kh, vh = (q[:, :, :, i].transpose(0, 2, 1, 3) for i in range(3))
            else:
                if bias is not None and k.ndim == 3:
                    dq, dk = q.shape[-1], k.shape[-1]
                    q, k, v = q + bias[:dq], k + bias[dq:dq + dk], v + bias[dq + dk:]
                qh = _heads(q, n)
                kh = _heads(k, n) if k.ndim == 3 else k
                vh = _heads(v, n) if v.ndim == 3 else v
            p = 0
            if past_key is not None:
                p = past_key.shape[2]
                kh = np.concatenate([past_key, kh], 2)
                vh = np.concatenate([past_value, vh], 2)
            y = _masked_attention(qh, kh, vh, key_padding_mask, attention_bias, scale=scale,
                                  unidirectional=unidirectional, past_len=p,
                                  mask_filter_value=mask_filter_value)
            return _merge(y), kh, vh

    class GroupQueryAttention(base):
        def _run(self, q, k=None, v=None, past_key=None, past_value=None, seqlens_k=None,
                 total_len=None, cos=None, sin=None, *_, num_heads=None, kv_num_heads=None,
                 scale=None, do_rotary=None, rotary_interleaved=None, softcap=None, **__):
            n, kvn = int(num_heads), int(kv_num_heads)
            if k is None:
                h = q.shape[-1] // (n + 2 * kvn)
                q, k, v = q[..., :n * h], q[..., n * h:(n + kvn) * h], q[..., (n + kvn) * h:]
            qh, kh, vh = _heads(q, n), _heads(k, kvn), _heads(v, kvn)
            b, s = q.shape[:2]
            p = 0 if past_key is None else past_key.shape[2]
            if do_rotary:
                pos = (p + np.arange(s))[None].repeat(b, 0)
                qh = _rotary(qh, pos, cos, sin, bool(rotary_interleaved))
                kh = _rotary(kh, pos, cos, sin, bool(rotary_interleaved))
            if past_key is not None:
                kh = np.concatenate([past_key, kh], 2)
                vh = np.concatenate([past_value, vh], 2)
            rep = n // kvn
            t = kh.shape[2]
            mask = None
            if seqlens_k is not None:
                keep = np.arange(t)[None, :] < (np.asarray(seqlens_k).reshape(-1)[:b, None] + 1)
                mask = np.where(keep, 0.0, -np.inf)[:, None, None, :]
            y = attention_core(qh, np.repeat(kh, rep, 1), np.repeat(vh, rep, 1), scale=scale,
                               mask=mask, causal=True, past_len=p, filter_value=-np.inf)
            return _merge(y), kh, vh

    return [Attention, QAttention, MultiHeadAttention, GroupQueryAttention]
