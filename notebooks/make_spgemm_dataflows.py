"""Build ``spgemm_dataflows.ipynb`` (SMASH row-wise hashing vs inner vs outer product) with nbformat."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

CELLS = [
    new_markdown_cell(
        "# SpGEMM dataflows on a PIUMA-like machine: SMASH row-wise hashing, inner, outer\n\n"
        "`C = A·A` for a seeded R-MAT power-law graph of 1024 vertices (generated here, no external data), on the "
        "`smash-piuma` preset: 8 multithreaded cores (64 threads, 4-wide issue), a banked "
        "scratchpad per core holding the hash table, atomics, 8 shared DDR4 channels.\n\n"
        "* **row-wise hashing (SMASH V1)**: for each `A[i,k]`, stream row `k` of B and merge every "
        "product into the core's scratchpad hash table with an atomic add; write the table back as "
        "CSR. No partial-product matrix ever reaches DRAM; rows of B are re-fetched once per "
        "nonzero of A that needs them.\n"
        "* **inner product**: every candidate `(i, j)` (nonempty row × nonempty column) fetches row "
        "`i` of A and column `j` of B and intersects them; most candidates produce nothing.\n"
        "* **outer product**: column `k` of A times row `k` of B, each input read once, but every "
        "partial product is written to DRAM and read back to be merged.\n\n"
        "All counts (`partial_products`, `nnz_out`, probes, bank loads) are exact, computed with "
        "NumPy from the real sparsity; SimPy runs the windows on the cores and the shared DRAM."
    ),
    new_code_cell(
        "import time\n"
        "import numpy as np\n"
        "import pandas as pd\n"
        "from hwsim.spgemm import rmat, simulate_spgemm\n\n"
        "A = rmat(10, 8, seed=42)  # 1024 vertices, power-law degrees\n"
        "deg = np.diff(A.indptr)\n"
        "print(A.shape, A.nnz, 'nonzeros; max row', deg.max(), 'median row', int(np.median(deg)))"
    ),
    new_code_cell(
        "t0 = time.perf_counter()\n"
        "runs = {df: simulate_spgemm(A, dataflow=df) for df in ('rowwise-hash', 'inner', 'outer')}\n"
        "cols = ['cycles', 'compute_cycles', 'stall_cycles', 'dram_read_bytes', 'dram_write_bytes',\n"
        "        'fetched_elements', 'redundant_fetches', 'partial_product_bytes', 'partial_products',\n"
        "        'nnz_out', 'hash_probes', 'bank_conflicts', 'atomic_ops', 'utilization', 'energy_pj',\n"
        "        'check']\n"
        "table = pd.DataFrame({df: {c: r.to_dict()[c] for c in cols} for df, r in runs.items()}).T\n"
        "table['dram_MB'] = (table.dram_read_bytes + table.dram_write_bytes) / 1e6\n"
        "print(f'simulated in {time.perf_counter() - t0:.1f} s')\n"
        "table"
    ),
    new_code_cell(
        "row = runs['rowwise-hash']\n"
        "traffic = {df: r.dram_read_bytes + r.dram_write_bytes for df, r in runs.items()}\n"
        "assert traffic['rowwise-hash'] < traffic['outer'] < traffic['inner']\n"
        "assert row.counters['redundant_fetches'] < runs['inner'].counters['redundant_fetches']\n"
        "assert len({r.counters['nnz_out'] for r in runs.values()}) == 1  # same output\n"
        "for df, r in runs.items():\n"
        "    print(f\"{df:13s} {traffic[df] / traffic['rowwise-hash']:7.1f}x the row-wise traffic, \"\n"
        "          f\"{r.cycles / row.cycles:6.2f}x its cycles\")"
    ),
    new_markdown_cell(
        "**Why.** The inner product fetches a row of A and a column of B for every candidate pair: "
        "`n_cols·nnz(A) + n_rows·nnz(B)` entries, hundreds of times the inputs, for the same "
        "multiplications. The outer product reads A and B once but writes every partial product "
        "to DRAM and reads it back to merge (2 × products × 12 B). Row-wise hashing re-reads rows "
        "of B (products × 12 B) but merges on chip, so only C is written; on a power-law graph "
        "products are about twice the output, and the scratchpad merge saves the partial-product "
        "round trip. With this preset's bandwidth the outer product's extra traffic costs little "
        "time; its row merges (sorting long hub rows) cost more cycles than hashing."
    ),
    new_code_cell(
        "sweep = []\n"
        "for w in (1, 2, 4, 8, 16, 32):\n"
        "    r = simulate_spgemm(A, workers=w, check=False)\n"
        "    sweep.append({'workers': w, 'cycles': r.cycles, 'stall_cycles': r.stall_cycles})\n"
        "pd.DataFrame(sweep)"
    ),
    new_code_cell(
        "%matplotlib inline\n"
        "import matplotlib.pyplot as plt\n\n"
        "sw = pd.DataFrame(sweep)\n"
        "fig, ax = plt.subplots(figsize=(5.5, 3.2))\n"
        "ax.plot(sw.workers, sw.cycles / 1e3, marker='o', label='simulated')\n"
        "ax.plot(sw.workers, sw.cycles.iloc[0] / sw.workers / 1e3, ls='--', label='linear scaling')\n"
        "ax.set_xscale('log', base=2)\n"
        "ax.set_yscale('log')\n"
        "ax.set_xlabel('worker cores')\n"
        "ax.set_ylabel('kcycles')\n"
        "ax.legend()\n"
        "ax.set_title('SMASH V1 row-wise hashing, R-MAT 2^10, A·A')\n"
        "fig.tight_layout()\n"
        "plt.show()"
    ),
    new_code_cell(
        "rows = []\n"
        "for kernel in ('v1', 'v3'):\n"
        "    for t in (256, 1024, 4096, 16384, 65536):\n"
        "        r = simulate_spgemm(A, table_entries=t, kernel=kernel, check=False)\n"
        "        c = r.counters\n"
        "        rows.append({'kernel': kernel, 'table_entries': t, 'cycles': r.cycles,\n"
        "                     'windows': c['windows'], 'extra_passes': c['overflow_passes'],\n"
        "                     'scanned_slots': c['scanned_slots'],\n"
        "                     'writeback_cycles': int(r.table.writeback_cycles.sum()),\n"
        "                     'probes_per_product': c['hash_probes'] / c['partial_products']})\n"
        "pd.DataFrame(rows).pivot(index='table_entries', columns='kernel',\n"
        "                         values=['cycles', 'windows', 'scanned_slots', 'extra_passes'])"
    ),
    new_markdown_cell(
        "**Table size.** While the table limits a window (capacity = `max_load · T` products), a "
        "larger table means fewer windows and fewer hub rows split into column-range passes "
        "(each pass re-reads the row's rows of B): cycles fall for every kernel. Past the point "
        "where windows are cut by load balance instead (at least 16 windows per core), the keys "
        "per window stop growing. V1 still scans and clears all `T` slots of its table at every "
        "write-back, so its cycles rise again with `scanned_slots` — a real cost of a fixed-size "
        "table, not an artefact. V3 (fragmented memory) gives each row only the fragments its "
        "product bound needs and scans only those, so its cycles fall and then stay flat."
    ),
    new_code_cell(
        "lat = [{'atomic_latency': x, 'cycles': simulate_spgemm(A, atomic_latency=x, check=False).cycles}\n"
        "       for x in (1, 8, 16, 32, 64, 128)]\n"
        "pd.DataFrame(lat)"
    ),
    new_code_cell(
        "variants = {'V1 multiplicative': {}, 'V1 modulo hash': {'hash': 'modulo'},\n"
        "            'V2 tokenized': {'kernel': 'v2'}, 'V3 fragmented': {'kernel': 'v3'}}\n"
        "rows = []\n"
        "for label, kw in variants.items():\n"
        "    r = simulate_spgemm(A, check=False, **kw)\n"
        "    c = r.counters\n"
        "    rows.append({'variant': label, 'cycles': r.cycles, 'atomic_ops': c['atomic_ops'],\n"
        "                 'spad_accesses': c['spad_accesses'], 'scanned_slots': c['scanned_slots'],\n"
        "                 'writeback_cycles': int(r.table.writeback_cycles.sum()),\n"
        "                 'probes_per_product': c['hash_probes'] / c['partial_products'],\n"
        "                 'bank_conflicts': c['bank_conflicts']})\n"
        "pd.DataFrame(rows)"
    ),
    new_markdown_cell(
        "Atomic latency is hidden by the 64 threads until a wave's dependent probe chain outlasts "
        "its issue time; after that cycles grow with it. A modulo hash of `local_row·n + col` keeps "
        "only the column's low bits when `n` is a power of two, so every row of a window lands on "
        "the same slots: long probe chains. Tokenization (V2) packs key and value in one entry: "
        "one atomic per slot visited instead of a key CAS plus a value add, so half the atomics "
        "and fewer bank accesses. Fragmenting (V3, our reading of the thesis's third version: "
        "rows take fixed-size fragments on demand) keeps V2's atomics, adds one fetch-add per "
        "row, and cuts the write-back: only the taken fragments are scanned and, each fragment "
        "holding one row, no bucketing by row is needed.\n\n"
        "Not modelled: caching of B rows. PIUMA has (non-coherent) caches; here every fetch of a "
        "row of B goes to DRAM, so row-wise traffic is an upper bound (a B-row cache would cut "
        "the `redundant_fetches` of hub columns)."
    ),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook(cells=CELLS)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    out = HERE / "spgemm_dataflows.ipynb"
    nb = build()
    if "--execute" in sys.argv:
        from nbclient import NotebookClient

        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    nbformat.write(nb, out)
    print(f"wrote {out}")
