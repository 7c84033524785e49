"""torch stays optional: the mapper and ``hwsim run`` never import it unless given a torch module.

These tests run without torch installed (unlike ``test_mapper_torchfx.py``).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from hwsim.errors import ConfigError
from mapper.api import _is_torch_module, load


def test_mapper_and_hwsim_run_do_not_import_torch():
    code = (
        "import sys, mapper\n"
        "from mapper.api import load, prune\n"
        "from mapper.frontends import _torch_ops\n"
        "g = prune(load('resnet18'), '2:4')\n"
        "from hwsim.cli import main\n"
        "rc = main(['run', '--arch', 'sat-vcu1525', '--model', 'bert-base', '--seq-len', '16',"
        " '--no-check', '--json'])\n"
        "assert rc in (0, None), rc\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print(g.total_macs())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    assert out.stdout.strip().splitlines()[-1] == "1814073344"  # ResNet-18, torchvision


def test_objects_that_are_not_torch_modules_are_not_taken_for_one():
    class Module:  # named like torch's, but not one
        pass

    assert not _is_torch_module(Module())
    assert not _is_torch_module("resnet18")
    with pytest.raises(ConfigError, match="example_inputs applies to a torch.nn.Module"):
        load("resnet18", example_inputs=(1,))


def test_load_torch_without_torch_names_the_extra(monkeypatch):
    from hwsim.errors import MissingExtraError
    from mapper.frontends.torchfx import load_torch

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(MissingExtraError, match=r"torch"):
        load_torch(object(), ())
