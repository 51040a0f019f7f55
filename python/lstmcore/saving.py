"""Model files: one zip holding JSON and raw .npy arrays, loaded without executing code.

Layout (format version 1):
  lstmcore.json        {"format": "lstmcore", "version": 1, "model": <config>,
                        "compile": {...} | null, "optimizer": {...} | null,
                        "weights": [{"name", "shape", "sha256"}...], "slots": [...]}
  weights/NNNN.npy     the model's weights in get_weights() order
  optimizer/NNNN.npy   the optimizer slots (momentum / Adam m and v / RMSprop v)

Arrays are read with ``allow_pickle=False``; every array's SHA-256 is checked; writes go to a
temporary file in the same folder and are renamed into place, so a crash never leaves a
half-written model. Every failure to read becomes a ValueError (or OSError for I/O) that
names the file and the problem.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "lstmcore"
VERSION = 1


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def _entry(name: str, data: bytes, a: np.ndarray) -> dict:
    return {"name": name, "shape": list(a.shape), "sha256": hashlib.sha256(data).hexdigest()}


def model_to_bytes(model, include_optimizer: bool = True, include_compile: bool = True) -> bytes:
    """The model file's bytes; save_weights leaves out the compile settings and optimizer."""
    from . import optimizers
    meta = {"format": FORMAT, "version": VERSION, "model": model.get_config(),
            "compile": None, "optimizer": None, "weights": [], "slots": []}
    files = {}
    for i, w in enumerate(model.get_weights()):
        data = _npy_bytes(w)
        name = f"weights/{i:04d}.npy"
        files[name] = data
        meta["weights"].append(_entry(name, data, w))
    if include_compile and model._compiled:
        meta["compile"] = {"loss": model.loss, "metrics": list(model._metrics_arg or [])}
        meta["optimizer"] = optimizers.serialize(model.optimizer)
        if include_optimizer and model.built:
            net = model._native()
            model._sync_iterations()
            meta["optimizer"]["iterations"] = int(model.optimizer.iterations)
            for i, s in enumerate(net.optimizer_slots()):
                data = _npy_bytes(np.asarray(s))
                name = f"optimizer/{i:04d}.npy"
                files[name] = data
                meta["slots"].append(_entry(name, data, np.asarray(s)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("lstmcore.json", json.dumps(meta, indent=1))
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _atomic_write(path, data: bytes) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".lstmcore-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model, filepath, include_optimizer: bool = True) -> None:
    _atomic_write(filepath, model_to_bytes(model, include_optimizer))


def _read(source, what: str):
    """(meta, zipfile) from a path or bytes, with every format error as ValueError."""
    try:
        z = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise ValueError(f"{what} is not an lstmcore model file (not a valid zip archive: {e}); "
                         f"it may be truncated or of another format") from None
    try:
        raw = z.read("lstmcore.json")
    except KeyError:
        raise ValueError(f"{what} is not an lstmcore model file: it has no lstmcore.json") from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{what} is damaged: lstmcore.json cannot be read ({e})") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} is damaged: lstmcore.json is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{what} is not an lstmcore model file (format tag missing)")
    if meta.get("version") != VERSION:
        raise ValueError(f"{what} has format version {meta.get('version')!r}; this lstmcore "
                         f"reads version {VERSION}. Save it again with a matching lstmcore.")
    return meta, z


def _arrays(z, entries, what: str) -> list[np.ndarray]:
    out = []
    if not isinstance(entries, list):
        raise ValueError(f"{what} is damaged: the array list is malformed")
    for e in entries:
        try:
            name, shape, digest = e["name"], tuple(e["shape"]), e["sha256"]
            data = z.read(name)
        except (KeyError, TypeError) as err:
            raise ValueError(f"{what} is damaged: array entry {e!r:.100} is missing ({err})") from None
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise ValueError(f"{what} is damaged: {e.get('name')} cannot be read ({err})") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"{what} is damaged: {name} does not match its checksum")
        try:
            a = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"{what} is damaged: {name} is not a valid array ({err})") from None
        if a.dtype != np.float32 or a.shape != shape:
            raise ValueError(f"{what} is damaged: {name} has dtype {a.dtype} and shape {a.shape}; "
                             f"expected float32 {shape}")
        out.append(a)
    return out


def _check_sizes(meta: dict, what: str) -> None:
    """Refuse an architecture far larger than the weights stored with it (a damaged or
    hostile file would otherwise make from_config allocate gigabytes)."""
    try:
        total = sum(int(np.prod(e["shape"])) for e in meta.get("weights") or [])
        layers = meta["model"]["layers"]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{what} holds an invalid model architecture: malformed model "
                         f"description ({e})") from None
    if not isinstance(layers, list):
        raise ValueError(f"{what} holds an invalid model architecture: the layer list is malformed")
    limit = max(total, 1)

    def dims(cfg):
        if not isinstance(cfg, dict):
            return
        inner = cfg.get("config", cfg)
        if not isinstance(inner, dict):
            return
        for key in ("units",):
            v = inner.get(key)
            if isinstance(v, int) and v * v > limit and v > limit // 4 + 1:
                raise ValueError(f"{what} holds an invalid model architecture: a layer has "
                                 f"{key}={v}, far more than its {total} stored weights allow "
                                 f"(the file is damaged)")
        shape = inner.get("batch_input_shape")
        if isinstance(shape, list):
            for d in shape[1:]:
                if isinstance(d, int) and d > max(limit, 1 << 20):
                    raise ValueError(f"{what} holds an invalid model architecture: input "
                                     f"dimension {d} is implausible (the file is damaged)")
        if "layer" in inner:
            dims(inner["layer"])

    for cfg in layers:
        dims(cfg)


def model_from_bytes(data, compile: bool = True, what: str = "the model data"):
    return _load(data, compile, what)


def _read_file(filepath) -> tuple[bytes, str]:
    with open(filepath, "rb") as f:
        return f.read(), f"file {os.fspath(filepath)!r}"


def load_model(filepath, compile: bool = True):
    data, what = _read_file(filepath)
    return _load(data, compile, what)


def _load(data: bytes, compile: bool, what: str):
    from . import optimizers
    from .models import Sequential
    meta, z = _read(data, what)
    _check_sizes(meta, what)
    try:
        model = Sequential.from_config(meta["model"])
    except (KeyError, TypeError, ValueError, NotImplementedError) as e:
        raise ValueError(f"{what} holds an invalid model architecture: {e}") from None
    weights = _arrays(z, meta.get("weights"), what)
    if not model.built and weights:
        raise ValueError(f"{what} holds weights for a model without an input shape")
    try:
        model.set_weights(weights)
    except ValueError as e:
        raise ValueError(f"{what} does not match its architecture: {e}") from None
    if compile and meta.get("compile"):
        c = meta["compile"]
        try:
            o = meta["optimizer"]
            opt = optimizers.deserialize({k: v for k, v in o.items() if k != "iterations"})
            opt.iterations = int(o.get("iterations", 0))
            model.compile(optimizer=opt, loss=c["loss"], metrics=c.get("metrics") or None)
        except (KeyError, TypeError, ValueError, AttributeError, NotImplementedError) as e:
            raise ValueError(f"{what} holds invalid compile settings: {e}") from None
        slots = _arrays(z, meta.get("slots", []), what)
        if slots and model.built:
            net = model._native()
            targets = net.optimizer_slots()
            if len(targets) != len(slots) or any(t.shape != s.shape for t, s in zip(targets, slots)):
                raise ValueError(f"{what} is damaged: its optimizer state does not match the model")
            for t, s in zip(targets, slots):
                t[...] = s
            net.iterations = opt.iterations
    return model


def save_weights(model, filepath) -> None:
    """Weights only (same container, without compile settings or optimizer state)."""
    _atomic_write(filepath, model_to_bytes(model, include_optimizer=False, include_compile=False))


def load_weights(model, filepath) -> None:
    data, what = _read_file(filepath)
    meta, z = _read(data, what)
    weights = _arrays(z, meta.get("weights"), what)
    try:
        model.set_weights(weights)
    except ValueError as e:
        raise ValueError(f"{what} does not fit this model: {e}") from None
