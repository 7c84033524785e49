"""Shared hypothesis strategies and slow references of the hwsim.sparsity tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hwsim.sparsity import NMPattern

MAX_EXAMPLES = 100

# ------------------------------------------------------------------------------ strategies


@st.composite
def patterns(draw, max_m=12):
    # Mostly small groups (fast, many tails), sometimes m > 32 to reach the argsort path.
    m = draw(st.one_of(st.integers(1, max_m), st.sampled_from([16, 33, 64])))
    return NMPattern(draw(st.integers(1, m)), m)


@st.composite
def tensors(draw, dtype=None, min_dims=1, max_dims=3, max_side=10):
    dtype = dtype or draw(st.sampled_from([np.int8, np.int16, np.float32, np.float64]))
    shape = draw(
        hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)
    )
    if np.dtype(dtype).kind == "f":
        # A small value set makes ties and zeros common.
        elements = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 7.0, 1e-3])
    else:
        elements = st.integers(-128, 127)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def tensor_pattern_axis(draw, **kw):
    x = draw(tensors(**kw))
    pattern = draw(patterns())
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, pattern, axis


def groups_of(x, pattern, axis):
    """Yield (index tuple, 1-d group) in C order over the group_nnz array (reference)."""
    moved = np.moveaxis(x, axis, -1)
    length = moved.shape[-1]
    for other in np.ndindex(moved.shape[:-1]):
        for start in range(0, length, pattern.m):
            yield other, start, moved[other][start : start + pattern.m]


def magnitude_ref(v):
    return [abs(int(e)) if np.issubdtype(v.dtype, np.integer) else abs(float(e)) for e in v]


def reference_mask(x, pattern, axis):
    """Slow per-group reference of nm_mask."""
    axis %= x.ndim
    moved = np.zeros(np.moveaxis(x, axis, -1).shape, dtype=bool)
    for other, start, grp in groups_of(x, pattern, axis):
        mag = magnitude_ref(grp)
        order = sorted(range(len(grp)), key=lambda j: (-mag[j], j))
        for j in order[: min(pattern.n, len(grp))]:
            moved[other + (start + j,)] = True
    return np.moveaxis(moved, -1, axis)
