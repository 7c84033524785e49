"""Run SCALE-Sim on a list of jobs; executed by the interpreter that has ``scalesim`` installed.

Not part of the project's interpreter: ``benchmarks/validate_scalesim.py`` runs this file with
``--scalesim-python`` as a subprocess. Usage::

    python scalesim_driver.py JOBS.json WORKDIR

``JOBS.json`` holds a list of ``{"id", "config", "topology", "gemm"}`` (file texts). Each job
writes its files under ``WORKDIR/<id>``, runs ``scalesim.scale_sim.scalesim`` once (no traces)
and prints one JSON line: ``{"id", "seconds", "layers": [{"layer", "total_incl_prefetch",
"total", "stall"}]}`` from its ``COMPUTE_REPORT.csv``, or ``{"id", "error"}``.
"""

import contextlib
import io
import json
import os
import sys
import time
import traceback


def _read_compute_report(path):
    rows = []
    with open(path) as fh:
        next(fh)  # header
        for line in fh:
            cells = [c.strip() for c in line.split(",")]
            if not cells or cells[0] == "":
                continue
            rows.append(
                {
                    "layer": int(cells[0]),
                    "total_incl_prefetch": int(float(cells[1])),
                    "total": int(float(cells[2])),
                    "stall": int(float(cells[3])),
                }
            )
    return rows


def run_job(job, workdir):
    """Run one job through SCALE-Sim; its per-layer cycles from ``COMPUTE_REPORT.csv``."""
    from scalesim.scale_sim import scalesim

    d = os.path.join(workdir, job["id"])
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, "scale.cfg")
    topo = os.path.join(d, "topology.csv")
    layout = os.path.join(d, "layout.csv")
    with open(cfg, "w") as fh:
        fh.write(job["config"])
    with open(topo, "w") as fh:
        fh.write(job["topology"])
    with open(layout, "w") as fh:  # SCALE-Sim opens a layout file even when it is unused
        fh.write("Layer name, unused,\n")
    t0 = time.time()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        sim = scalesim(
            save_disk_space=True,
            verbose=False,
            config=cfg,
            topology=topo,
            layout=layout,
            input_type_gemm=bool(job.get("gemm", False)),
        )
        sim.run_scale(top_path=os.path.join(d, "out"))
    run_name = sim.config.get_run_name()
    report = os.path.join(d, "out", run_name, "COMPUTE_REPORT.csv")
    return {"id": job["id"], "seconds": time.time() - t0, "layers": _read_compute_report(report)}


def main(argv):
    """Run every job of ``argv[1]`` under ``argv[2]``, printing one JSON line per job."""
    jobs_path, workdir = argv[1], argv[2]
    with open(jobs_path) as fh:
        jobs = json.load(fh)
    for job in jobs:
        try:
            out = run_job(job, workdir)
        except Exception:  # report and go on with the other jobs
            out = {"id": job["id"], "error": traceback.format_exc()}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv)
