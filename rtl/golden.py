"""Bit-accurate NumPy golden model of the sparse MAC core, random test streams and payload packing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwsim._seed import check_seed

from .timing import idx_width_for, validate_core_params

__all__ = [
    "MacParams",
    "Group",
    "GroupStream",
    "golden_mac",
    "random_stream",
    "concat_streams",
    "wrap",
    "pack_input",
    "unpack_input",
    "pack_output",
    "unpack_output",
]


@dataclass(frozen=True)
class MacParams:
    """Validated parameters of one core configuration (see :func:`rtl.timing.validate_core_params`).

    Parameters
    ----------
    n, m : int
        N non-zeros per group of M activations.
    lanes : int
        Output lanes sharing the activations.
    act_width, weight_width : int
        Signed operand widths.
    acc_width : int
        Accumulator width; results wrap modulo ``2**acc_width``.

    Attributes
    ----------
    idx_width : int
        Bits of one activation index, ``max(1, log2(m))``.
    in_width, out_width : int
        Bits of the input and output payloads.
    """

    n: int
    m: int
    lanes: int = 1
    act_width: int = 8
    weight_width: int = 8
    acc_width: int = 32

    def __post_init__(self):
        clean = validate_core_params(**self.as_dict())
        for k, v in clean.items():
            object.__setattr__(self, k, v)

    def as_dict(self) -> dict[str, int]:
        """The six constructor parameters as a dict (``SparseMAC(**params.as_dict())``)."""
        return dict(
            n=self.n, m=self.m, lanes=self.lanes, act_width=self.act_width,
            weight_width=self.weight_width, acc_width=self.acc_width,
        )

    @property
    def idx_width(self) -> int:
        """Bits of one activation index (as :attr:`rtl.sparse_mac.SparseMAC.idx_width`)."""
        return idx_width_for(self.m)

    @property
    def in_width(self) -> int:
        """Bits of one packed input payload: activations, weight values and indices, flags."""
        slots = self.lanes * self.n
        return (self.m * self.act_width + slots * (self.weight_width + self.idx_width) + 2)

    @property
    def out_width(self) -> int:
        """Bits of one packed output payload, ``lanes * acc_width``."""
        return self.lanes * self.acc_width


@dataclass(frozen=True)
class Group:
    """One input group: what the core accepts in one transfer.

    Attributes
    ----------
    act : numpy.ndarray
        ``(m,)`` signed activations shared by all lanes.
    wval : numpy.ndarray
        ``(lanes, n)`` signed weight values.
    widx : numpy.ndarray
        ``(lanes, n)`` indices into ``act`` (duplicates allowed).
    first : bool
        Clear the accumulators before adding this group.
    last : bool
        This group ends the dot product: the accumulators are delivered after it.
    """

    act: np.ndarray
    wval: np.ndarray
    widx: np.ndarray
    first: bool
    last: bool


@dataclass
class GroupStream:
    """A typed stream of ``G`` groups, stored column-wise.

    Attributes
    ----------
    act : numpy.ndarray
        ``(G, m)`` int64.
    wval, widx : numpy.ndarray
        ``(G, lanes, n)`` int64.
    first, last : numpy.ndarray
        ``(G,)`` bool.
    """

    act: np.ndarray
    wval: np.ndarray
    widx: np.ndarray
    first: np.ndarray
    last: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.act = np.asarray(self.act, dtype=np.int64)
        self.wval = np.asarray(self.wval, dtype=np.int64)
        self.widx = np.asarray(self.widx, dtype=np.int64)
        self.first = np.asarray(self.first, dtype=bool)
        self.last = np.asarray(self.last, dtype=bool)
        g = len(self.first)
        if not (len(self.act) == len(self.wval) == len(self.widx) == len(self.last) == g):
            raise ValueError("act, wval, widx, first and last must have the same length")
        if self.wval.shape != self.widx.shape or self.wval.ndim != 3:
            raise ValueError(
                f"wval and widx must both have shape (G, lanes, n), not {self.wval.shape} "
                f"and {self.widx.shape}"
            )

    def __len__(self) -> int:
        return len(self.first)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return GroupStream(
                self.act[i], self.wval[i], self.widx[i], self.first[i], self.last[i],
                dict(self.meta),
            )
        return Group(
            self.act[i], self.wval[i], self.widx[i], bool(self.first[i]), bool(self.last[i])
        )

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def n_results(self) -> int:
        """Dot products the stream completes (its ``last`` groups)."""
        return int(self.last.sum())

    def check(self, params: MacParams) -> None:
        """Raise ``ValueError`` if the stream does not fit ``params`` (shapes and value ranges)."""
        g = len(self)
        if self.act.shape != (g, params.m):
            raise ValueError(f"act must have shape ({g}, {params.m}), not {self.act.shape}")
        if self.wval.shape != (g, params.lanes, params.n):
            raise ValueError(
                f"wval must have shape ({g}, {params.lanes}, {params.n}), not {self.wval.shape}"
            )
        for name, arr, width in (("act", self.act, params.act_width),
                                 ("wval", self.wval, params.weight_width)):
            lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
            if arr.size and (arr.min() < lo or arr.max() > hi):
                raise ValueError(f"{name} values must be in {lo}..{hi} ({width}-bit signed)")
        if self.widx.size and (self.widx.min() < 0 or self.widx.max() >= params.m):
            raise ValueError(f"widx values must be in 0..{params.m - 1}")


def wrap(x, width: int):
    """Reduce integers to ``width``-bit two's complement (vectorised, int64)."""
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1) << np.int64(width - 1)
    return ((x + half) & ((half << np.int64(1)) - 1)) - half


def golden_mac(params: MacParams, stream: GroupStream) -> np.ndarray:
    """Results of every dot product the stream completes, bit-accurate to the core.

    Each lane ``l`` adds ``sum_j wval[l, j] * act[widx[l, j]]`` to its accumulator, which a
    ``first`` group clears first and which wraps modulo ``2**acc_width``. The accumulators start
    at zero (as after reset) and keep their value across ``last`` groups unless ``first`` clears
    them.

    Parameters
    ----------
    params : MacParams
    stream : GroupStream

    Returns
    -------
    numpy.ndarray
        ``(stream.n_results, lanes)`` int64, signed two's complement values; row ``k`` is the
        lane results of the ``k``-th dot product.
    """
    stream.check(params)
    # (G, lanes, n): the activation each weight multiplies
    gathered = np.take_along_axis(
        stream.act[:, None, :], stream.widx.reshape(len(stream), -1)[:, None, :], axis=2
    ).reshape(stream.wval.shape)
    # |partial| < 2**35: far from int64 overflow before the wrap below
    partial = wrap((gathered * stream.wval).sum(axis=2), params.acc_width)
    acc = np.zeros(params.lanes, dtype=np.int64)
    out = np.empty((stream.n_results, params.lanes), dtype=np.int64)
    k = 0
    for g in range(len(stream)):
        acc = partial[g] if stream.first[g] else wrap(acc + partial[g], params.acc_width)
        if stream.last[g]:
            out[k] = acc
            k += 1
    return out


def _operand(rng: np.random.Generator, width: int, size, extremes: float) -> np.ndarray:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    vals = rng.integers(lo, hi + 1, size=size, dtype=np.int64)
    if extremes > 0:
        pick = rng.random(size) < extremes
        vals[pick] = rng.choice(np.array([lo, hi, lo, -1, 0]), size=int(pick.sum()))
    return vals


def random_stream(
    params: MacParams,
    n_groups: int,
    seed: int,
    *,
    dot_len: tuple[int, int] = (1, 6),
    indices: str = "nm",
    extremes: float = 0.05,
    p_continue: float = 0.05,
) -> GroupStream:
    """A seeded random stream of groups cut into dot products.

    Parameters
    ----------
    params : MacParams
    n_groups : int
        Groups in the stream; the last group always has ``last`` set.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    dot_len : (int, int)
        Inclusive range of groups per dot product (``(1, 1)``: every group is ``first`` and
        ``last``).
    indices : {"nm", "any", "dense"}
        ``"nm"``: N distinct sorted indices per lane and group (a valid N:M pattern);
        ``"any"``: independent indices, duplicates likely; ``"dense"``: ``widx = 0..n-1``
        (dense mode, activations beyond ``n`` are random junk the core must ignore).
    extremes : float
        Probability that an operand is replaced by an extreme value (most negative, most
        positive, -1 or 0).
    p_continue : float
        Probability that a dot product does not start with ``first`` and so keeps adding to
        the previous result.

    Returns
    -------
    GroupStream
    """
    if indices not in ("nm", "any", "dense"):
        raise ValueError(f"indices must be 'nm', 'any' or 'dense', not {indices!r}")
    rng = np.random.default_rng(check_seed(seed))
    p = params
    act = _operand(rng, p.act_width, (n_groups, p.m), extremes)
    wval = _operand(rng, p.weight_width, (n_groups, p.lanes, p.n), extremes)
    if indices == "dense":
        widx = np.broadcast_to(np.arange(p.n), (n_groups, p.lanes, p.n)).copy()
    elif indices == "any":
        widx = rng.integers(0, p.m, size=(n_groups, p.lanes, p.n), dtype=np.int64)
    else:
        keys = rng.random((n_groups, p.lanes, p.m))
        widx = np.sort(np.argsort(keys, axis=2)[:, :, : p.n], axis=2).astype(np.int64)
    first = np.zeros(n_groups, dtype=bool)
    last = np.zeros(n_groups, dtype=bool)
    g = 0
    while g < n_groups:
        length = int(rng.integers(dot_len[0], dot_len[1] + 1))
        first[g] = g == 0 or rng.random() >= p_continue
        end = min(g + length, n_groups) - 1
        last[end] = True
        g = end + 1
    return GroupStream(act, wval, widx, first, last, {"seed": seed, "indices": indices})


def concat_streams(*streams: GroupStream) -> GroupStream:
    """Concatenate streams group-wise."""
    return GroupStream(
        np.concatenate([s.act for s in streams]),
        np.concatenate([s.wval for s in streams]),
        np.concatenate([s.widx for s in streams]),
        np.concatenate([s.first for s in streams]),
        np.concatenate([s.last for s in streams]),
    )


def _pack_fields(fields) -> int:
    word, pos = 0, 0
    for values, width in fields:
        mask = (1 << width) - 1
        for v in np.ravel(values):
            word |= (int(v) & mask) << pos
            pos += width
    return word


def pack_input(params: MacParams, group: Group) -> int:
    """The ``i__payload`` bits of one group (``act``, ``wval``, ``widx``, ``first``, ``last``).

    Fields are packed least-significant first; ``act`` element ``e`` at bit
    ``e * act_width``; lane ``l`` slot ``j`` of ``wval``/``widx`` is element ``l * n + j``.

    Parameters
    ----------
    params : MacParams
    group : Group

    Returns
    -------
    int
        Non-negative integer below ``2**params.in_width``.
    """
    return _pack_fields([
        (group.act, params.act_width),
        (group.wval, params.weight_width),
        (group.widx, params.idx_width),
        ([int(bool(group.first))], 1),
        ([int(bool(group.last))], 1),
    ])


def _unpack(word: int, count: int, width: int, pos: int, signed: bool) -> tuple[np.ndarray, int]:
    mask = (1 << width) - 1
    out = np.empty(count, dtype=np.int64)
    for e in range(count):
        v = (word >> pos) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out[e] = v
        pos += width
    return out, pos


def unpack_input(params: MacParams, word: int) -> Group:
    """Inverse of :func:`pack_input`."""
    p = params
    act, pos = _unpack(word, p.m, p.act_width, 0, True)
    wval, pos = _unpack(word, p.lanes * p.n, p.weight_width, pos, True)
    widx, pos = _unpack(word, p.lanes * p.n, p.idx_width, pos, False)
    return Group(
        act, wval.reshape(p.lanes, p.n), widx.reshape(p.lanes, p.n),
        bool((word >> pos) & 1), bool((word >> (pos + 1)) & 1),
    )


def pack_output(params: MacParams, result) -> int:
    """The ``o__payload`` bits of one result (lane ``l`` at bit ``l * acc_width``)."""
    return _pack_fields([(result, params.acc_width)])


def unpack_output(params: MacParams, word: int) -> np.ndarray:
    """Lane results from ``o__payload`` bits, as signed ``(lanes,)`` int64."""
    out, _ = _unpack(int(word), params.lanes, params.acc_width, 0, True)
    return out
