"""The README's tour is runnable: its Python blocks run in order and print what it shows."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(not README.exists(), reason="README.md not next to tests/")
def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "Total params: 491" in out
    assert "600" in out  # len(history.history['loss'])
    assert namespace["yhat"].shape == (10, 1)
    assert "(128, 1)" in out and "(2, 1, 4) 2" in out  # the functional models section
    assert namespace["snapshot"][0][0].shape == (1, 16)  # the streaming section
