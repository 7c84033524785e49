"""Bit-accurate NumPy golden model of the N:M PE array, its streams, packing and tile builder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim._seed import check_seed

from .golden import _operand, wrap
from .timing import idx_width_for, validate_array_params

__all__ = [
    "ArrayParams", "Fold", "golden_fold", "golden_folds", "random_folds", "tile_folds",
    "tile_output", "pack_weight_row", "pack_act_row", "unpack_result", "pack_fields",
    "Block", "golden_block", "golden_blocks", "random_blocks", "tile_blocks", "tile_output_os",
]


@dataclass(frozen=True)
class ArrayParams:
    """Validated parameters of one :class:`rtl.pe_array.NMPeArray` configuration."""

    rows: int
    cols: int
    n: int
    m: int
    act_width: int = 8
    weight_width: int = 8
    acc_width: int = 32

    def __post_init__(self):
        for k, v in validate_array_params(**self.as_dict()).items():
            object.__setattr__(self, k, v)

    def as_dict(self) -> dict[str, int]:
        """The seven constructor parameters (``NMPeArray(**params.as_dict())``)."""
        return dict(rows=self.rows, cols=self.cols, n=self.n, m=self.m,
                    act_width=self.act_width, weight_width=self.weight_width,
                    acc_width=self.acc_width)

    @property
    def idx_width(self) -> int:
        """Bits of one in-group index."""
        return idx_width_for(self.m)


@dataclass
class Fold:
    """One fold: ``R`` weight rows, then ``len`` activation rows (the last flagged ``last``).

    Attributes
    ----------
    wval, widx : numpy.ndarray
        ``(R, C, n)`` int64: weights and in-group indices of PE ``(r, c)``.
    act : numpy.ndarray
        ``(len, R, m)`` int64: activation row ``i`` gives PE row ``r`` the group ``act[i, r]``.
    """

    wval: np.ndarray
    widx: np.ndarray
    act: np.ndarray

    def __post_init__(self):
        self.wval = np.asarray(self.wval, dtype=np.int64)
        self.widx = np.asarray(self.widx, dtype=np.int64)
        self.act = np.asarray(self.act, dtype=np.int64)
        if self.wval.shape != self.widx.shape or self.wval.ndim != 3 or self.act.ndim != 3:
            raise ValueError("wval/widx must be (R, C, n) and act (len, R, m)")
        if len(self.act) < 1:
            raise ValueError("a fold needs at least one activation row")

    def __len__(self) -> int:
        return len(self.act)


def golden_fold(params: ArrayParams, fold: Fold) -> np.ndarray:
    """``(len, C)`` results of one fold: ``sum_r sum_j wval[r,c,j] * act[i,r,widx[r,c,j]]``,
    wrapped to ``acc_width`` bits."""
    # gathered[i, r, c, j] = act[i, r, widx[r, c, j]]
    r_idx = np.arange(fold.act.shape[1])[:, None, None]
    gathered = fold.act[:, r_idx, fold.widx]
    return wrap((gathered * fold.wval[None]).sum(axis=(1, 3)), params.acc_width)


def golden_folds(params: ArrayParams, folds: list[Fold]) -> np.ndarray:
    """Results of a stream of folds, one row per activation row, in stream order."""
    return np.concatenate([golden_fold(params, f) for f in folds], axis=0)


def _random_indices(rng, p: ArrayParams, shape: tuple, indices: str) -> np.ndarray:
    """In-group weight indices of ``shape`` (``(..., n)``): distinct and sorted (``"nm"``),
    ``0..n-1`` (``"dense"``) or any, duplicates included (``"any"``)."""
    if indices == "dense":
        return np.broadcast_to(np.arange(p.n), shape).copy()
    if indices == "any":
        return rng.integers(0, p.m, size=shape)
    return np.sort(rng.random((*shape[:-1], p.m)).argsort(axis=-1)[..., : p.n], axis=-1)


def random_folds(params: ArrayParams, n_folds: int, seed: int, *, fold_len=(1, 6),
                 indices: str = "nm", extremes: float = 0.1) -> list[Fold]:
    """Seeded random folds.

    Parameters
    ----------
    params : ArrayParams
    n_folds : int
    seed : int
    fold_len : (int, int)
        Inclusive range of activation rows per fold.
    indices : {"nm", "dense", "any"}
        Distinct sorted in-group indices (N:M), ``0..n-1`` (dense mode), or any (duplicates).
    extremes : float
        Probability of an operand being an extreme value.

    Returns
    -------
    list of Fold
    """
    rng = np.random.default_rng(check_seed(seed))
    p = params
    folds = []
    for _ in range(n_folds):
        shape = (p.rows, p.cols, p.n)
        widx = _random_indices(rng, p, shape, indices)
        length = int(rng.integers(fold_len[0], fold_len[1] + 1))
        folds.append(Fold(
            wval=_operand(rng, p.weight_width, shape, extremes), widx=widx,
            act=_operand(rng, p.act_width, (length, p.rows, p.m), extremes),
        ))
    return folds


def _tile_steps(params: ArrayParams, act, weight, dense: bool):
    """The steps of a tile from the compressed operands: activation groups ``(M, G, m)``,
    weight values and in-group indices ``(G, n, N)`` (see :func:`tile_folds`)."""
    from hwsim.sparsity import NMPattern, compress_nm

    p = params
    act, weight = np.asarray(act, dtype=np.int64), np.asarray(weight, dtype=np.int64)
    (M, K), N = act.shape, weight.shape[1]
    g_len = p.n if dense else p.m
    G = -(-K // g_len)
    a_pad = np.zeros((M, G * g_len), dtype=np.int64)
    a_pad[:, :K] = act
    groups = np.zeros((M, G, p.m), dtype=np.int64)
    groups[:, :, :g_len] = a_pad.reshape(M, G, g_len)
    if dense:
        w_pad = np.zeros((G * p.n, N), dtype=np.int64)
        w_pad[:K] = weight
        vals = w_pad.reshape(G, p.n, N)
        idx = np.broadcast_to(np.arange(p.n)[None, :, None], vals.shape)
    else:
        comp = compress_nm(weight, NMPattern(p.n, p.m), axis=0)
        vals = np.zeros((G, p.n, N), dtype=np.int64)
        idx = np.zeros((G, p.n, N), dtype=np.int64)
        nv = comp.values.shape[0]
        vals.reshape(G * p.n, N)[:nv] = comp.values
        idx.reshape(G * p.n, N)[:nv] = comp.indices
    return groups, vals, idx


def tile_folds(params: ArrayParams, act, weight, *, dense: bool = False) -> list[Fold]:
    """The folds the array runs for a tile ``act (M x K) @ weight (K x N)``, from the
    compressed operands, in the engine's order (column folds outer, reduction folds inner).

    Sparse mode: ``weight`` satisfies ``n:m`` along ``K``; step ``g`` of a column is group
    ``g`` (``n`` values with their in-group indices, :func:`hwsim.sparsity.compress_nm`),
    PE row ``r`` of reduction fold ``f`` runs step ``f * R + r``. Dense mode: step ``g`` is
    ``n`` consecutive values with indices ``0..n-1``. Missing steps/columns are zero.

    Returns
    -------
    list of Fold
    """
    p = params
    groups, vals, idx = _tile_steps(p, act, weight, dense)
    M, G, N = groups.shape[0], groups.shape[1], vals.shape[2]
    folds = []
    for c0 in range(0, N, p.cols):
        for g0 in range(0, G, p.rows):
            wv = np.zeros((p.rows, p.cols, p.n), dtype=np.int64)
            wi = np.zeros_like(wv)
            gs, cs = slice(g0, min(G, g0 + p.rows)), slice(c0, min(N, c0 + p.cols))
            ng, nc = gs.stop - gs.start, cs.stop - cs.start
            wv[:ng, :nc] = vals[gs, :, cs].transpose(0, 2, 1)
            wi[:ng, :nc] = idx[gs, :, cs].transpose(0, 2, 1)
            a = np.zeros((M, p.rows, p.m), dtype=np.int64)
            a[:, :ng] = groups[:, gs]
            folds.append(Fold(wval=wv, widx=wi, act=a))
    return folds


def tile_output(params: ArrayParams, results: np.ndarray, m_rows: int, n_cols: int) -> np.ndarray:
    """Sum the fold results of :func:`tile_folds` into the ``(M, N)`` tile output (wrapped).

    ``results`` is ``(folds * M, C)`` in stream order; reduction folds of one column fold
    accumulate (the output buffer's job), modulo ``2**acc_width``.
    """
    p = params
    c_folds = -(-n_cols // p.cols)
    per = results.reshape(c_folds, -1, m_rows, p.cols)
    out = wrap(per.sum(axis=1), p.acc_width)  # (c_folds, M, C)
    return out.transpose(1, 0, 2).reshape(m_rows, c_folds * p.cols)[:, :n_cols]


# -- output-stationary (rtl/pe_array_os.py) ------------------------------------------------------
@dataclass
class Block:
    """One OS block: ``len`` steps, each a ``w`` transfer paired with an ``a`` transfer.

    Attributes
    ----------
    wval, widx : numpy.ndarray
        ``(len, C, n)`` int64: step ``k`` gives column ``c`` the weights ``wval[k, c]`` and
        their in-group indices ``widx[k, c]``.
    act : numpy.ndarray
        ``(len, R, m)`` int64: step ``k`` gives PE row ``r`` the group ``act[k, r]``.
    """

    wval: np.ndarray
    widx: np.ndarray
    act: np.ndarray

    def __post_init__(self):
        self.wval = np.asarray(self.wval, dtype=np.int64)
        self.widx = np.asarray(self.widx, dtype=np.int64)
        self.act = np.asarray(self.act, dtype=np.int64)
        if self.wval.shape != self.widx.shape or self.wval.ndim != 3 or self.act.ndim != 3 \
                or len(self.wval) != len(self.act):
            raise ValueError("wval/widx must be (len, C, n) and act (len, R, m)")
        if len(self.act) < 1:
            raise ValueError("a block needs at least one step")

    def __len__(self) -> int:
        return len(self.act)


def golden_block(params: ArrayParams, block: Block) -> np.ndarray:
    """``(R, C)`` results of one block: ``sum_k sum_j wval[k,c,j] * act[k,r,widx[k,c,j]]``,
    wrapped to ``acc_width`` bits."""
    k_idx = np.arange(len(block))[:, None, None, None]
    r_idx = np.arange(block.act.shape[1])[None, :, None, None]
    gathered = block.act[k_idx, r_idx, block.widx[:, None]]  # (len, R, C, n)
    return wrap((gathered * block.wval[:, None]).sum(axis=(0, 3)), params.acc_width)


def golden_blocks(params: ArrayParams, blocks: list[Block]) -> np.ndarray:
    """Results of a stream of blocks: ``R`` rows per block, in stream order."""
    return np.concatenate([golden_block(params, b) for b in blocks], axis=0)


def random_blocks(params: ArrayParams, n_blocks: int, seed: int, *, block_len=(1, 6),
                  indices: str = "nm", extremes: float = 0.1) -> list[Block]:
    """Seeded random blocks (``block_len``: inclusive range of steps; the other arguments as
    :func:`random_folds`)."""
    rng = np.random.default_rng(check_seed(seed))
    p = params
    blocks = []
    for _ in range(n_blocks):
        length = int(rng.integers(block_len[0], block_len[1] + 1))
        shape = (length, p.cols, p.n)
        widx = _random_indices(rng, p, shape, indices)
        blocks.append(Block(
            wval=_operand(rng, p.weight_width, shape, extremes), widx=widx,
            act=_operand(rng, p.act_width, (length, p.rows, p.m), extremes),
        ))
    return blocks


def tile_blocks(params: ArrayParams, act, weight, *, dense: bool = False) -> list[Block]:
    """The blocks the OS array runs for a tile ``act (M x K) @ weight (K x N)``, from the
    compressed operands: column folds outer, blocks of ``R`` activation rows inner, each
    block the whole reduction (one step per group, as :func:`tile_folds`). Missing rows and
    columns are zero.

    Returns
    -------
    list of Block
    """
    p = params
    groups, vals, idx = _tile_steps(p, act, weight, dense)
    M, G, N = groups.shape[0], groups.shape[1], vals.shape[2]
    blocks = []
    for c0 in range(0, N, p.cols):
        nc = min(N, c0 + p.cols) - c0
        wv = np.zeros((G, p.cols, p.n), dtype=np.int64)
        wi = np.zeros_like(wv)
        wv[:, :nc] = vals[:, :, c0:c0 + nc].transpose(0, 2, 1)
        wi[:, :nc] = idx[:, :, c0:c0 + nc].transpose(0, 2, 1)
        for r0 in range(0, M, p.rows):
            nr = min(M, r0 + p.rows) - r0
            a = np.zeros((G, p.rows, p.m), dtype=np.int64)
            a[:, :nr] = groups[r0:r0 + nr].transpose(1, 0, 2)
            blocks.append(Block(wval=wv, widx=wi, act=a))
    return blocks


def tile_output_os(params: ArrayParams, results: np.ndarray, m_rows: int,
                   n_cols: int) -> np.ndarray:
    """The ``(M, N)`` tile output from the block results of :func:`tile_blocks`
    (``(blocks * R, C)`` in stream order; every block is already the whole reduction)."""
    p = params
    r_blocks, c_folds = -(-m_rows // p.rows), -(-n_cols // p.cols)
    per = np.asarray(results).reshape(c_folds, r_blocks, p.rows, p.cols)
    out = per.transpose(1, 2, 0, 3).reshape(r_blocks * p.rows, c_folds * p.cols)
    return out[:m_rows, :n_cols]


def pack_fields(values, width: int) -> int:
    """Pack signed/unsigned integers, element 0 least significant, ``width`` bits each."""
    word, mask = 0, (1 << width) - 1
    for k, v in enumerate(np.asarray(values, dtype=np.int64).ravel().tolist()):
        word |= (int(v) & mask) << (k * width)
    return word


def pack_weight_row(params: ArrayParams, wval, widx) -> int:
    """The ``w`` payload of one PE row: ``wval`` (C, n) then ``widx`` (C, n)."""
    p = params
    lo = pack_fields(wval, p.weight_width)
    return lo | (pack_fields(widx, p.idx_width) << (p.cols * p.n * p.weight_width))


def pack_act_row(params: ArrayParams, act, last: bool) -> int:
    """The ``a`` payload of one activation row: ``act`` (R, m) then ``last``."""
    p = params
    return pack_fields(act, p.act_width) | (int(bool(last)) << (p.rows * p.m * p.act_width))


def unpack_result(params: ArrayParams, word: int) -> np.ndarray:
    """``(C,)`` signed partial sums of one ``o`` payload."""
    p = params
    w, mask, half = p.acc_width, (1 << p.acc_width) - 1, 1 << (p.acc_width - 1)
    out = [((int(word) >> (c * w)) & mask) for c in range(p.cols)]
    return np.array([v - (half << 1) if v >= half else v for v in out], dtype=np.int64)
