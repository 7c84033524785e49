"""hwsim.schedule: one environment, engines in static list order."""

import numpy as np

from hwsim.arch import load_arch
from hwsim.engines.base import TilePlan
from hwsim.schedule import Task, run_schedule


def _plan(cycles: int, tiles: int = 3) -> TilePlan:
    z = np.zeros(tiles, dtype=np.int64)
    return TilePlan(engine="e", multipliers=1, compute_cycles=np.full(tiles, cycles),
                    load_bytes=np.full(tiles, 4096), store_bytes=np.full(tiles, 4096),
                    performed_macs=z, sram_read_bytes=z, sram_write_bytes=z, buffer_bytes=8192)


def test_plan_and_process_tasks_share_an_engine_in_list_order():
    arch = load_arch("sat-vcu1525")

    def proc(env, dram):
        yield env.timeout(500)
        return 500

    tasks = [Task("a", "e", _plan(100)), Task("p", "e", process=proc),
             Task("b", "e", _plan(100))]
    st = run_schedule(tasks, arch)
    t = st.tasks
    # none depends on another: the engine's static order alone puts p after a, b after p
    a_done = max(e for _, e in t["a"].intervals)
    assert a_done <= t["p"].start + 1e-9  # the engine is free once a's last tile computed
    assert t["p"].start + 500 <= min(s for s, _ in t["b"].intervals) + 1e-9
    assert st.busy_cycles == 100 * 3 * 2 + 500
