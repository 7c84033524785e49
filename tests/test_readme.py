"""The README's Python example runs as written (documentation that cannot rot silently)."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README lost its Python example"
    script = tmp_path / "example.py"
    script.write_text("\n".join(blocks))
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    ratio, check = out.stdout.split()[:2]
    assert 3.0 < float(ratio) < 4.0 and check == "passed"
    assert (tmp_path / "run.json").is_file() and (tmp_path / "tiles.parquet").is_file()
