"""The README's "Moving models in and out" section runs: its ```python block (numpy only) and
its ```py block (h5py, onnx, onnxruntime; skipped without them), in a temporary folder.
Skipped while README.md has no such section."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
TITLE = "## Moving models in and out"


def section_blocks(text: str):
    start = text.find(TITLE)
    if start < 0:
        return None
    end = text.find("\n## ", start + len(TITLE))
    body = text[start:end if end > 0 else len(text)]
    return re.findall(r"```(python|py)\n(.*?)```", body, flags=re.S)


def test_readme_interop_section_runs(tmp_path, monkeypatch, capsys):
    blocks = section_blocks(README.read_text()) if README.exists() else None
    if not blocks:
        pytest.skip("README.md has no 'Moving models in and out' section yet")
    assert [kind for kind, _ in blocks] == ["python", "py"]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0][1], str(README), "exec"), namespace)  # noqa: S102
    assert "(2, 1)" in capsys.readouterr().out
    for module in ("h5py", "onnx", "onnxruntime"):
        pytest.importorskip(module)
    exec(compile(blocks[1][1], str(README), "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out.split()
    assert out[0] == "True" and float(out[1]) == 0.0
