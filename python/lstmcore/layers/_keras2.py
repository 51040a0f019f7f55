"""Keras 2's layer modules (``keras.layers.core``, ``.recurrent``, ...) over ``lstmcore.layers``.

Each module lists the names Keras 2 defined there and resolves them when asked (a module
``__getattr__``, PEP 562), from ``lstmcore.layers``: a layer added there later appears in
these modules with no edit. A name Keras 2 had but lstmcore does not implement raises an
ImportError saying so; ``from lstmcore.layers.core import Lambda`` shows that message, where an
AttributeError would become Python's generic "cannot import name". Any other name is an
AttributeError.
"""

from __future__ import annotations

import importlib


def _pooling(dims=(1, 2, 3)) -> dict[str, str]:
    names = {}
    for d in dims:
        for kind, short in (("Max", "Max"), ("Average", "Avg")):
            names[f"{kind}Pooling{d}D"] = f"{kind}Pooling{d}D"
            names[f"{short}Pool{d}D"] = f"{kind}Pooling{d}D"
            names[f"Global{kind}Pooling{d}D"] = f"Global{kind}Pooling{d}D"
            names[f"Global{short}Pool{d}D"] = f"Global{kind}Pooling{d}D"
    return names


def _same(*names: str) -> dict[str, str]:
    return {n: n for n in names}


# Keras 2 name -> lstmcore.layers name (aliases map to the class Keras 2 aliased).
MODULES: dict[str, dict[str, str]] = {
    "core": _same("Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute",
                  "RepeatVector", "Lambda", "ActivityRegularization", "Masking",
                  "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"),
    "recurrent": _same("RNN", "SimpleRNN", "GRU", "LSTM", "SimpleRNNCell", "GRUCell",
                       "LSTMCell", "StackedRNNCells"),
    "convolutional": {
        **_same("Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D",
                "DepthwiseConv2D", "Conv2DTranspose", "Conv3DTranspose", "Cropping1D",
                "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
                "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"),
        "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
        "SeparableConvolution1D": "SeparableConv1D", "SeparableConvolution2D": "SeparableConv2D",
        "Convolution2DTranspose": "Conv2DTranspose", "Deconvolution2D": "Conv2DTranspose",
        "Deconvolution3D": "Conv3DTranspose",
        # Keras 2 re-exported the local pooling layers here
        **{k: v for k, v in _pooling().items() if not k.startswith("Global")
           and "Pooling" in k},
    },
    "embeddings": _same("Embedding"),
    "pooling": _pooling(),
    "wrappers": _same("Wrapper", "TimeDistributed", "Bidirectional"),
}


def _available(module: str) -> list[str]:
    layers = importlib.import_module("lstmcore.layers")
    return [k for k, v in MODULES[module].items() if hasattr(layers, v)]


def module_getattr(module: str):
    """The ``__getattr__`` and ``__dir__`` of ``lstmcore.layers.<module>``."""
    names = MODULES[module]

    def __getattr__(name: str):
        if name == "__all__":
            return _available(module)
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module 'lstmcore.layers.{module}' has no attribute {name!r}")
        layers = importlib.import_module("lstmcore.layers")
        obj = getattr(layers, target, None)
        if obj is None:
            raise ImportError(f"lstmcore does not implement `{name}` (Keras 2's "
                              f"keras.layers.{module}.{name}); lstmcore.layers.{module} has: "
                              f"{', '.join(_available(module)) or 'nothing yet'}",
                              name=f"lstmcore.layers.{module}")
        return obj

    def __dir__():
        return sorted(set(_available(module)) | {"__doc__", "__name__", "__all__"})

    return __getattr__, __dir__
