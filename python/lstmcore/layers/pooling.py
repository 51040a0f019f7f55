"""Keras 2's ``keras.layers.pooling``: MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D (and the MaxPool1D... aliases).

``from lstmcore.layers.pooling import ...`` gives the classes of ``lstmcore.layers``, resolved
when asked (see ``_keras2.py``); a Keras 2 name lstmcore does not implement raises an
ImportError that says so.
"""

from ._keras2 import module_getattr

__getattr__, __dir__ = module_getattr("pooling")
