"""From pruned networks and sparse matrices to engine work (front ends, pruning, op graph, tiling)."""

__all__: list[str] = []
