"""Keras 2's ``keras.preprocessing``: ``from lstmcore.preprocessing import sequence``."""

from . import sequence

__all__ = ["sequence"]
