"""Keras 2's ``keras.layers.recurrent``: LSTM, GRU, SimpleRNN.

``from lstmcore.layers.recurrent import ...`` gives the classes of ``lstmcore.layers``, resolved
when asked (see ``_keras2.py``); a Keras 2 name lstmcore does not implement raises an
ImportError that says so.
"""

from ._keras2 import module_getattr

__getattr__, __dir__ = module_getattr("recurrent")
