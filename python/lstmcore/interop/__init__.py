"""Moving models in and out of lstmcore: Keras files, PyTorch modules, ONNX.

- ``from_keras(path)``: a Keras 3 ``.keras`` file or a Keras 2 (tf-keras) ``.h5`` file ->
  ``Sequential`` with its weights. The architecture is rebuilt from the file's JSON through a
  fixed table of layer classes; nothing from the file is executed (a ``Lambda`` or an unknown
  class is a ValueError naming the layer). Needs ``h5py`` (``pip install lstmcore[h5]``).
- ``from_torch(lstm, head=None)``: ``torch.nn.LSTM`` (or its ``state_dict()``) and
  ``torch.nn.Linear`` (or its ``state_dict()``) -> ``Sequential`` computing
  ``head(h_n[-1])``. A state dict of NumPy arrays needs no torch at all.
- ``to_keras(model, path)``: a ``.keras`` file that Keras 3's ``keras.saving.load_model``
  opens with the same predictions (written with json + h5py; Keras is not imported).
- ``model.to_onnx(path)`` (``lstmcore.interop.onnx.to_onnx``): the ONNX graph, for
  onnxruntime and other runtimes (``pip install lstmcore[onnx]``).

Every optional dependency is imported when first needed, with an ImportError naming the
extra that installs it.
"""

from __future__ import annotations

from .keras_files import from_keras, to_keras
from .torch import from_torch


def to_onnx(model, path, opset=17):
    """Write ``model`` as an ONNX graph (see ``lstmcore.interop.onnx.to_onnx``)."""
    from .onnx import to_onnx as _to_onnx
    return _to_onnx(model, path, opset=opset)


__all__ = ["from_keras", "to_keras", "from_torch", "to_onnx"]
