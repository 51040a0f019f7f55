"""Keras 2's ``keras.layers.convolutional``: Conv1D (alias Convolution1D) and the pooling layers Keras 2 re-exported here.

``from lstmcore.layers.convolutional import ...`` gives the classes of ``lstmcore.layers``, resolved
when asked (see ``_keras2.py``); a Keras 2 name lstmcore does not implement raises an
ImportError that says so.
"""

from ._keras2 import module_getattr

__getattr__, __dir__ = module_getattr("convolutional")
