"""Keras model files: read Keras 3 ``.keras`` and Keras 2 ``.h5``, write Keras 3 ``.keras``.

Layouts:
  .keras (Keras 3)  a zip of ``metadata.json`` ({"keras_version", ...}), ``config.json`` (the
                    model's config) and ``model.weights.h5``: per layer, a group named by its
                    snake-cased class (numbered among the model's layers of that class) whose
                    ``vars`` (or ``cell/vars``, ``layer/vars``, ``forward_layer/cell/vars``...)
                    holds datasets ``0``, ``1``... in Keras' weight order.
  .h5 (Keras 2)     attribute ``model_config`` (JSON) and ``keras_version`` at the root; group
                    ``model_weights/<layer name>`` with attribute ``weight_names`` listing its
                    datasets in weight order (tf-keras' ``save_weights_to_hdf5_group``).

Reading treats every file as hostile: JSON through a size cap and a nesting bound, the model
rebuilt through a fixed table (``_keras_config``), each dataset's dtype and shape compared with
what the rebuilt layer expects before it is read, links to other files refused, values checked
finite. Every failure is a ValueError naming the file and the problem (OSError for a missing
file or a failed write). Nothing is written into the model until every array has passed.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile

import numpy as np

from ..layers.base import _show
from . import _keras_config as kc

MAX_JSON_BYTES = 16 << 20        # config.json / model_config; real configs are kilobytes
MAX_WEIGHTS_BYTES = 8 << 30      # model.weights.h5 read into memory
DEFLATE_MAX_RATIO = 1032         # deflate's maximum expansion
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _h5py():
    try:
        import h5py
    except ImportError as e:
        raise ImportError("reading and writing Keras files needs h5py: "
                          "`pip install lstmcore[h5]` (or `pip install h5py`)") from e
    return h5py


def _what(path) -> str:
    return f"Keras file {os.fspath(path)!r}"


def _json(text, what: str, member: str):
    if isinstance(text, bytes):
        if len(text) > MAX_JSON_BYTES:
            raise ValueError(f"{what}: {member} holds more than {MAX_JSON_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{what}: {member} is not UTF-8 text") from None
    if not isinstance(text, str):
        raise ValueError(f"{what}: {member} is not text; received {_show(text)}")
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"{what}: {member} holds more than {MAX_JSON_BYTES} bytes")

    def no_constant(name):
        raise ValueError(f"{what}: {member} holds {name}, which is not JSON")
    try:
        obj = json.loads(text, parse_constant=no_constant)
    except RecursionError:
        raise ValueError(f"{what}: {member} nests too deeply") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{what}: {member} is not valid JSON ({e})") from None
    kc.check_depth(obj, what)
    return obj


# ---- reading ---------------------------------------------------------------------------------
def from_keras(path):
    """A ``Sequential`` with the architecture and weights of a Keras model file.

    Args:
        path: a Keras 3 ``.keras`` file (``model.save('m.keras')``) or a Keras 2 / tf-keras
            HDF5 file (``model.save('m.h5')``); the format is told from the file's first
            bytes, not its name.

    Layers: LSTM, GRU, SimpleRNN, Dense, Activation, Dropout, TimeDistributed, RepeatVector,
    Bidirectional, Embedding, Conv1D, the 1D pooling layers, Flatten, Masking, InputLayer
    (and Keras 2's CuDNNLSTM). ``hard_sigmoid`` keeps the meaning of the Keras that wrote the
    file (Keras 2: ``clip(0.2x + 0.5)``, which is lstmcore's ``'hard_sigmoid_keras2'``).
    The model comes back uncompiled: call ``compile`` to train it.

    Raises:
        ValueError: a damaged or foreign file, a layer lstmcore cannot map (``Lambda``,
            custom classes: named), a functional model, a missing weight, a weight whose shape
            differs from the config's, NaN or Inf in a weight.
        ImportError: h5py is not installed (``pip install lstmcore[h5]``).

    >>> model = from_keras("model.keras")          # doctest: +SKIP
    >>> model.predict(x)                            # doctest: +SKIP
    """
    what = _what(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:4] == b"PK\x03\x04":
        return _read_keras3(path, what)
    if head == HDF5_MAGIC:
        return _read_h5(path, what)
    raise ValueError(f"{what} is neither a Keras 3 .keras archive (a zip) nor an HDF5 .h5 file "
                     f"(it starts with {head!r})")


def _read_member(z: zipfile.ZipFile, name: str, cap: int, what: str) -> bytes:
    try:
        info = z.getinfo(name)
    except KeyError:
        raise ValueError(f"{what} has no {name}: not a Keras 3 model archive") from None
    if info.flag_bits & 0x1:
        raise ValueError(f"{what}: {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{what}: {name} uses an unsupported compression")
    if info.file_size > cap:
        raise ValueError(f"{what}: {name} declares {info.file_size} bytes; at most {cap} are read")
    if info.compress_type == zipfile.ZIP_DEFLATED and \
            info.file_size > DEFLATE_MAX_RATIO * info.compress_size + 1024:
        raise ValueError(f"{what}: {name} declares more bytes than deflate can expand to")
    try:
        with z.open(info) as f:
            data = f.read(cap + 1)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError) as e:
        raise ValueError(f"{what}: {name} cannot be read ({type(e).__name__}: {e}); the file "
                         f"is truncated or damaged") from None
    except OSError as e:  # zlib errors surface as zlib.error (an Exception), I/O as OSError
        raise ValueError(f"{what}: {name} cannot be read ({e})") from None
    if len(data) > cap:
        raise ValueError(f"{what}: {name} holds more than {cap} bytes")
    return data


def _read_keras3(path, what: str):
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise ValueError(f"{what} is not a readable zip archive ({e}): truncated or "
                         f"damaged") from None
    with z:
        try:
            meta = _json(_read_member(z, "metadata.json", 1 << 20, what), what, "metadata.json")
            config = _json(_read_member(z, "config.json", MAX_JSON_BYTES, what), what,
                           "config.json")
            weights = _read_member(z, "model.weights.h5", MAX_WEIGHTS_BYTES, what)
        except Exception as e:
            if isinstance(e, ValueError):
                raise
            raise ValueError(f"{what} cannot be read ({type(e).__name__}: {e})") from None
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    keras2 = isinstance(version, str) and version.startswith(("1.", "2."))
    plan = kc.plan_sequential(config, keras2, what)
    h5py = _h5py()
    try:
        f = h5py.File(io.BytesIO(weights), "r")
    except (OSError, ValueError) as e:
        raise ValueError(f"{what}: model.weights.h5 is not a readable HDF5 file ({e})") from None
    with f:
        arrays = []
        for layer, shapes, groups in zip(plan.layers, plan.shapes,
                                         kc.keras3_read_paths(plan.layers)):
            found = []
            for gpath in groups:
                g = _group(f, gpath, what, layer, shapes)
                keys = sorted(g.keys(), key=lambda k: int(k) if k.isdigit() else -1)
                if any(not k.isdigit() for k in keys) or \
                        keys != [str(i) for i in range(len(keys))]:
                    raise ValueError(f"{what}: {gpath} holds unexpected entries "
                                     f"{_show(list(g.keys()))}")
                found += [(f"{gpath}/{k}", g, k) for k in keys]
            arrays.append(_check_layer_arrays(layer, shapes, found, what))
    return _install(plan, arrays, what)


def _group(f, gpath: str, what: str, layer, shapes):
    h5py = _h5py()
    node = f
    for part in gpath.split("/"):
        try:
            link = node.get(part, getlink=True)
        except (OSError, ValueError, KeyError):
            link = None
        if link is None:
            if not shapes:
                return _Empty()
            raise ValueError(f"{what}: the weights of layer `{layer.name}` "
                             f"({type(layer).__name__}) are missing (no {gpath})")
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{what}: {gpath} is a link ({type(link).__name__}); links are "
                             f"refused")
        node = node[part]
        if not isinstance(node, h5py.Group):
            raise ValueError(f"{what}: {gpath} is not a group")
    return node


class _Empty:
    def keys(self):
        return []


def _read_dataset(g, key: str, label: str, expected, what: str) -> np.ndarray:
    h5py = _h5py()
    try:
        link = g.get(key, getlink=True)
    except (OSError, ValueError, KeyError):
        link = None
    if link is None:
        raise ValueError(f"{what}: {label} is missing")
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"{what}: {label} is a link ({type(link).__name__}); links are refused")
    ds = g[key]
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{what}: {label} is not a dataset")
    if ds.dtype.kind != "f" or ds.dtype.itemsize not in (2, 4, 8):
        raise ValueError(f"{what}: {label} has dtype {ds.dtype}; expected floating point")
    if ds.is_virtual or ds.external:
        raise ValueError(f"{what}: {label} reads from other files; refused")
    if tuple(ds.shape) not in expected:
        want = " or ".join(str(s) for s in expected)
        raise ValueError(f"{what}: {label} has shape {tuple(ds.shape)}; the layer's config "
                         f"needs {want}")
    nbytes = int(np.prod(ds.shape, dtype=np.int64)) * ds.dtype.itemsize
    try:
        stored = int(ds.id.get_storage_size())
    except (OSError, ValueError):
        stored = 0
    if nbytes > DEFLATE_MAX_RATIO * stored + 4096:
        raise ValueError(f"{what}: {label} declares {nbytes} bytes but stores {stored}: more "
                         f"than compression can expand to; the file is damaged or hostile")
    try:
        a = np.asarray(ds[()], dtype=np.float32)
    except (OSError, ValueError) as e:
        raise ValueError(f"{what}: {label} cannot be read ({e}); the file is damaged") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: {label} contains NaN or Inf")
    return a


def _check_layer_arrays(layer, shapes, found, what: str) -> list[np.ndarray]:
    """The layer's arrays from [(label, group, key)], checked against the shapes its config
    implies."""
    cls = type(layer).__name__
    if len(found) != len(shapes):
        raise ValueError(f"{what}: layer `{layer.name}` ({cls}) needs {len(shapes)} weight "
                         f"arrays {shapes}; the file has {len(found)}")
    split_bias = getattr(layer, "_keras_split_bias", False)
    out = []
    for i, ((label, g, key), shape) in enumerate(zip(found, shapes)):
        expected = [shape]
        if split_bias and i == 2:
            expected.append((2 * shape[0],))
        a = _read_dataset(g, key, f"layer `{layer.name}` ({cls}) weight {i} ({label})",
                          expected, what)
        if a.shape != shape:  # CuDNNLSTM: input and recurrent biases, summed
            a = a[:shape[0]] + a[shape[0]:]
        out.append(a)
    return out


def _install(plan, arrays, what: str):
    """Build the model (allocating what the file has shown it holds) and set the weights."""
    try:
        model = plan.build()
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    model.set_weights([a for part in arrays for a in part])
    return model


def _attr_text(value):
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _read_h5(path, what: str):
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{what} is not a readable HDF5 file ({e}): truncated or "
                         f"damaged") from None
    with f:
        try:
            raw = f.attrs.get("model_config")
        except (OSError, TypeError) as e:
            raise ValueError(f"{what}: its model_config attribute cannot be read ({e})") from None
        if raw is None:
            raise ValueError(f"{what} holds no model_config: a weights-only file (save_weights) "
                             f"has no architecture. Build the model and call load_weights, or "
                             f"save the whole model with model.save")
        config = _json(_attr_text(raw), what, "model_config")
        version = _attr_text(f.attrs.get("keras_version", ""))
        keras2 = not (isinstance(version, str) and version.startswith("3"))
        plan = kc.plan_sequential(config, keras2, what)
        try:
            link = f.get("model_weights", getlink=True)
        except (OSError, ValueError):
            link = None
        if link is None or not isinstance(link, h5py.HardLink) or \
                not isinstance(f["model_weights"], h5py.Group):
            raise ValueError(f"{what} has no model_weights group")
        mw = f["model_weights"]
        arrays = []
        for layer, shapes in zip(plan.layers, plan.shapes):
            if not shapes:
                arrays.append([])
                continue
            g = _group(mw, layer.name, what, layer, shapes)
            try:
                names = g.attrs.get("weight_names")
            except (OSError, TypeError):
                names = None
            if names is None:
                raise ValueError(f"{what}: model_weights/{layer.name} has no weight_names")
            names = [_attr_text(n) for n in np.asarray(names).reshape(-1)]
            if not all(isinstance(n, str) for n in names):
                raise ValueError(f"{what}: model_weights/{layer.name} weight_names are not text")
            found = [(f"model_weights/{layer.name}/{n}", g, n) for n in names]
            arrays.append(_check_layer_arrays(layer, shapes, found, what))
    return _install(plan, arrays, what)


# ---- writing ---------------------------------------------------------------------------------
def to_keras(model, path) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file that ``keras.saving.load_model`` opens
    with the same predictions (architecture and weights; no optimizer state).

    Keras is not imported: the archive is written with json and h5py in Keras 3's layout.
    The file is written to a temporary name and renamed into place.

    Raises:
        ValueError: the model is not built, or has a layer or setting Keras 3 has no
            equivalent of (``'hard_sigmoid_keras2'``), named.
        ImportError: h5py is not installed (``pip install lstmcore[h5]``).
    """
    from ..models import Sequential
    if not isinstance(model, Sequential):
        raise TypeError(f"`to_keras` writes an lstmcore Sequential; received "
                        f"{type(model).__name__}")
    if not model.built:
        raise ValueError("`to_keras`: the model has not been built yet: give the first layer "
                         "`input_shape=` or call fit/predict on data first")
    h5py = _h5py()
    with model._guard.mutex:
        config = kc.keras3_config(model)
        groups = kc.keras3_weight_groups(model)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for gpath, name, arrays in groups:
            g = f.require_group(gpath)
            g.attrs["name"] = name
            for i, a in enumerate(arrays):
                g.create_dataset(str(i), data=np.asarray(a, dtype=np.float32))
    meta = {"keras_version": "3.0.0", "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S"),
            "written_by": "lstmcore"}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", buf.getvalue(), compress_type=zipfile.ZIP_STORED)
    from ..saving import _atomic_write  # a temporary file renamed into place
    _atomic_write(path, out.getvalue())
