"""DESIGN contract 1 across levels: one GEMM, three implementations, the same numbers.

The SAT PE array's functional mode (``PeArrayEngine.compute``, fed the compressed N:M weight),
the RTL core's NumPy golden model and the Amaranth simulation of ``SparseMAC`` all compute the
same small 2:8 GEMM — with a short tail group — from the same compressed operands, and all must
equal the dense NumPy product. A PE of the array is one lane of the core: lane ``l`` holds the
N:M slots of output column ``l``, the activation window is the row's ``m`` elements.
"""

from __future__ import annotations

import numpy as np
import pytest
from rtl_cases import Case, simulate_amaranth

from hwsim.arch import load_arch
from hwsim.engines.base import GemmWork
from hwsim.engines.pe_array import PeArrayEngine
from hwsim.sparsity import NMPattern, compress_nm, random_weights
from rtl.golden import GroupStream, MacParams, golden_mac

M, K, N = 3, 20, 4  # K = 2 full groups of 8 + a tail of 4 (2 slots)
PATTERN = NMPattern(2, 8)


def _operands(seed: int):
    w = random_weights((K, N), PATTERN, seed=seed, dtype=np.int8, axis=0)
    rng = np.random.default_rng(seed + 1)
    act = rng.integers(-128, 128, size=(M, K), dtype=np.int16).astype(np.int8)
    return w, act


def _core_streams(w: np.ndarray, act: np.ndarray) -> list[GroupStream]:
    """One dot-product stream per activation row, from the compressed weight's slots."""
    comp = compress_nm(w, PATTERN, axis=0)
    n, m = PATTERN.n, PATTERN.m
    groups = -(-K // m)
    slots = [min(n, K - g * m) for g in range(groups)]  # n per full group, fewer in the tail
    bounds = np.concatenate(([0], np.cumsum(slots)))
    act_pad = np.zeros((M, groups * m), dtype=np.int64)
    act_pad[:, :K] = act
    wval = np.zeros((groups, N, n), dtype=np.int64)
    widx = np.zeros((groups, N, n), dtype=np.int64)  # unused slots: value 0 at index 0
    for g in range(groups):
        s = slice(bounds[g], bounds[g + 1])
        wval[g, :, : slots[g]] = comp.values[s].T
        widx[g, :, : slots[g]] = comp.indices[s].T
    first = np.arange(groups) == 0
    last = np.arange(groups) == groups - 1
    return [
        GroupStream(act_pad[i].reshape(groups, m), wval, widx, first, last) for i in range(M)
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_engine_golden_and_amaranth_agree_on_one_gemm(seed):
    w, act = _operands(seed)
    reference = act.astype(np.int64) @ w.astype(np.int64)

    arch = load_arch("sat-vcu1525")
    work = GemmWork(m=M, k=K, n=N, weight=w, sparsity=PATTERN, act=act, seed=seed)
    engine_out = PeArrayEngine().compute(work, arch, "pe_array")

    params = MacParams(n=2, m=8, lanes=N, act_width=8, weight_width=8, acc_width=32)
    streams = _core_streams(w, act)
    golden_out = np.vstack([golden_mac(params, s) for s in streams])

    joined = GroupStream(
        *(np.concatenate([getattr(s, f) for s in streams]) for f in ("act", "wval", "widx")),
        np.concatenate([s.first for s in streams]),
        np.concatenate([s.last for s in streams]),
    )
    case = Case("gemm", params, [joined], [np.zeros(len(joined), dtype=np.int64)],
                np.ones(1, dtype=np.int64))
    rtl_out = simulate_amaranth(case).outputs[0]

    np.testing.assert_array_equal(np.asarray(engine_out, dtype=np.int64), reference)
    np.testing.assert_array_equal(golden_out, reference)
    np.testing.assert_array_equal(np.asarray(rtl_out, dtype=np.int64), reference)
