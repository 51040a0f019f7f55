"""PyTorch ``nn.LSTM`` (+ ``nn.Linear``) -> lstmcore ``Sequential``.

PyTorch's LSTM keeps ``weight_ih_l{k}`` ``(4H, I)``, ``weight_hh_l{k}`` ``(4H, H)`` and two
biases ``b_ih``, ``b_hh`` ``(4H,)``, gate blocks i, f, g, o; Keras (and lstmcore) keep
``kernel (I, 4H)``, ``recurrent_kernel (H, 4H)`` and one bias, blocks i, f, c, o. The gate
order is the same, so the mapping is a transpose and a sum of the biases (keras#8860).
``nn.Linear`` keeps ``weight (out, in)``: Dense's kernel is its transpose.

A state dict of NumPy arrays is accepted as well as one of tensors, so that no torch import
is needed to convert saved weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ..layers.base import _show

_LSTM_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def _array(value, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().float().numpy()
    try:
        a = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"`from_torch`: `{name}` is not an array of numbers ({e})") from None
    if not np.isfinite(a).all():
        raise ValueError(f"`from_torch`: `{name}` contains NaN or Inf")
    return a


def _module_kind(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_torch_module(obj, name: str) -> bool:
    """Whether obj is a torch.nn.<name> (torch imported only when obj comes from it)."""
    if not any(c.__module__.startswith("torch.") for c in type(obj).__mro__):
        return False  # not a torch object (subclasses of torch's modules count)
    import torch
    return isinstance(obj, getattr(torch.nn, name))


def _strip_prefix(sd: Mapping, what: str) -> dict:
    """A state dict's keys without a common module prefix (``"lstm.weight_ih_l0"``)."""
    keys = [k for k in sd if isinstance(k, str)]
    if len(keys) != len(sd):
        raise ValueError(f"`from_torch`: the {what} state dict has keys that are not strings")
    prefixes = {k.rpartition(".")[0] for k in keys}
    if len(prefixes) > 1:
        raise ValueError(f"`from_torch`: the {what} state dict mixes modules "
                         f"({_show(sorted(prefixes))}); pass the state dict of one module")
    return {k.rpartition(".")[2]: v for k, v in sd.items()}


def _lstm_state(lstm) -> tuple[dict, bool | None]:
    """(state dict with plain keys, batch_first or None when unknown)."""
    if isinstance(lstm, Mapping):
        return _strip_prefix(lstm, "LSTM"), None
    if _is_torch_module(lstm, "LSTM"):
        if getattr(lstm, "proj_size", 0):
            raise ValueError(f"`from_torch`: nn.LSTM with proj_size={lstm.proj_size} is not "
                             f"supported (Keras' LSTM has no projection)")
        return dict(lstm.state_dict()), bool(lstm.batch_first)
    raise TypeError(f"`from_torch` maps torch.nn.LSTM (or its state_dict()); received "
                    f"{_module_kind(lstm)}")


def _head_state(head) -> dict:
    if isinstance(head, Mapping):
        return _strip_prefix(head, "Linear")
    if _is_torch_module(head, "Linear"):
        return dict(head.state_dict())
    raise TypeError(f"`from_torch` takes a torch.nn.Linear head (or its state_dict()); "
                    f"received {_module_kind(head)}")


def from_torch(lstm, head=None, timesteps=None):
    """A ``Sequential`` computing what a PyTorch LSTM and its linear head compute.

    Args:
        lstm: ``torch.nn.LSTM`` (any ``num_layers``, ``bidirectional``, ``batch_first``
            either way) or its ``state_dict()`` (tensors or NumPy arrays; keys may carry a
            module prefix such as ``"lstm."``).
        head: ``torch.nn.Linear`` or its ``state_dict()``, applied to ``h_n[-1]`` (to
            ``cat(h_n[-2], h_n[-1])`` when bidirectional); None: the model outputs that
            vector itself. Default: None.
        timesteps: the model's fixed number of timesteps; None accepts any. Default: None.

    The model takes ``(batch, timesteps, features)``, batch first, whatever the module's
    ``batch_first`` (transpose time-major data with ``x.transpose(1, 0, 2)``).
    Stacked layers become ``LSTM(..., return_sequences=True)`` below the last;
    bidirectional ones ``Bidirectional(LSTM(...), merge_mode='concat')``.

    Raises:
        TypeError: a module other than ``nn.LSTM`` / ``nn.Linear`` (named).
        ValueError: a state dict with missing or inconsistent arrays, NaN or Inf.

    >>> import numpy as np
    >>> sd = {"weight_ih_l0": np.zeros((8, 3)), "weight_hh_l0": np.zeros((8, 2)),
    ...       "bias_ih_l0": np.zeros(8), "bias_hh_l0": np.zeros(8)}
    >>> from_torch(sd).predict(np.zeros((1, 4, 3))).shape
    (1, 2)
    """
    from .. import layers as L
    from ..models import Sequential

    sd, _ = _lstm_state(lstm)
    params: dict[tuple[int, bool], dict[str, np.ndarray]] = {}
    for key, value in sd.items():
        m = _LSTM_KEY.match(key) if isinstance(key, str) else None
        if m is None:
            raise ValueError(f"`from_torch`: unexpected key {_show(key)} in the LSTM state dict "
                             f"(expected weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...)")
        params.setdefault((int(m.group(2)), bool(m.group(3))), {})[m.group(1)] = \
            _array(value, key)
    if not params:
        raise ValueError("`from_torch`: the LSTM state dict is empty")
    num_layers = 1 + max(k[0] for k in params)
    bidirectional = any(k[1] for k in params)
    first = params.get((0, False), {}).get("weight_ih")
    if first is None or first.ndim != 2 or first.shape[0] % 4:
        raise ValueError("`from_torch`: weight_ih_l0 must have shape (4*hidden_size, input_size)")
    H = first.shape[0] // 4
    features = first.shape[1]
    use_bias = "bias_ih" in params[(0, False)]

    def weights(k: int, reverse: bool, in_size: int) -> list[np.ndarray]:
        suffix = f"_l{k}" + ("_reverse" if reverse else "")
        p = params.get((k, reverse), {})
        need = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if use_bias else [])
        shapes = {"weight_ih": (4 * H, in_size), "weight_hh": (4 * H, H),
                  "bias_ih": (4 * H,), "bias_hh": (4 * H,)}
        extra = sorted(set(p) - set(need))
        if extra:
            raise ValueError(f"`from_torch`: unexpected {extra[0]}{suffix} (bias is used by "
                             f"some layers and not others)")
        for name in need:
            if name not in p:
                raise ValueError(f"`from_torch`: the state dict has no {name}{suffix}")
            if p[name].shape != shapes[name]:
                raise ValueError(f"`from_torch`: {name}{suffix} has shape {p[name].shape}; "
                                 f"expected {shapes[name]} (hidden_size={H}, "
                                 f"input_size={in_size})")
        out = [np.ascontiguousarray(p["weight_ih"].T), np.ascontiguousarray(p["weight_hh"].T)]
        if use_bias:
            out.append(p["bias_ih"] + p["bias_hh"])  # one bias in Keras: b_ih + b_hh
        return out

    model = Sequential(name="from_torch")
    all_weights = []
    in_size = features
    for k in range(num_layers):
        last = k == num_layers - 1
        cell = L.LSTM(H, return_sequences=not last, use_bias=use_bias,
                      input_shape=(timesteps, features) if k == 0 and not bidirectional else None)
        if bidirectional:
            layer = L.Bidirectional(cell, merge_mode="concat",
                                    input_shape=(timesteps, features) if k == 0 else None)
            all_weights += weights(k, False, in_size) + weights(k, True, in_size)
        else:
            layer = cell
            all_weights += weights(k, False, in_size)
        model.add(layer)
        in_size = 2 * H if bidirectional else H
    if head is not None:
        hs = _head_state(head)
        unknown = sorted(set(hs) - {"weight", "bias"})
        if unknown or "weight" not in hs:
            raise ValueError(f"`from_torch`: a Linear state dict has 'weight' (and 'bias'); "
                             f"received keys {_show(sorted(hs))}")
        w = _array(hs["weight"], "head.weight")
        if w.ndim != 2 or w.shape[1] != in_size:
            raise ValueError(f"`from_torch`: the head's weight has shape {w.shape}; it takes the "
                             f"LSTM's last hidden state of {in_size} values, so expected "
                             f"(out_features, {in_size})")
        model.add(L.Dense(w.shape[0], use_bias="bias" in hs))
        all_weights.append(np.ascontiguousarray(w.T))
        if "bias" in hs:
            b = _array(hs["bias"], "head.bias")
            if b.shape != (w.shape[0],):
                raise ValueError(f"`from_torch`: the head's bias has shape {b.shape}; expected "
                                 f"({w.shape[0]},)")
            all_weights.append(b)
    model.set_weights(all_weights)
    return model
