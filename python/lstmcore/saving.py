"""Model files: one zip holding JSON and raw .npy arrays, loaded without executing code.

Layout (format version 1):
  lstmcore.json        {"format": "lstmcore", "version": 1, "model": <config>,
                        "compile": {...} | null, "optimizer": {...} | null,
                        "weights": [{"name", "shape", "sha256"}...], "slots": [...]}
  weights/NNNN.npy     the model's weights in get_weights() order
  optimizer/NNNN.npy   the optimizer slots (momentum / Adam m and v / RMSprop v), flat, per
                       weight in get_weights() order (Adam: m then v)

Writing: lstmcore writes ZIP_STORED members to a temporary file in the same folder
(``.lstmcore-<host>-<pid>-<random>.tmp``), fsyncs it and renames it into place, so a crash
never leaves a half-written model; temporary files left by a killed writer are removed by the
next save into that folder (see ``_remove_stale_tmp``).

Reading treats every file as hostile. Nothing the file says about sizes is trusted on its own:
  1. lstmcore.json is read through a stream with a cap (MAX_JSON_BYTES) and a nesting bound
     (MAX_JSON_DEPTH); only stored and deflated members are read, never encrypted ones.
  2. The layers are deserialized (constructors allocate nothing and bound every dimension);
     walking ``compute_output_shape`` gives every layer's input shape and ``_weight_shapes``
     every weight's shape. The array shapes come from there, never from the file.
  3. Before anything is read or built, the bytes those shapes need are checked against the
     archive: each member's declared size, a physically possible compression ratio for deflated
     members, and the sum of the members' compressed sizes against the file's size (so members
     cannot overlap to multiply one compressed body).
  4. Each member is read streamed with a cap, hashed while read; its .npy header is parsed
     and compared with the expected dtype and shape before the array is allocated.
  5. Optimizer state is range-checked (iterations, finite slots, non-negative second moments).
Every failure is a ValueError naming the file and the problem (OSError for real I/O failures
such as a missing file), with any echoed value from the file cut to 100 characters.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import inspect
import io
import json
import math
import os
import platform
import re
import stat
import struct
import tempfile
import time
import zipfile
import zlib

import numpy as np

from .layers.base import MAX_DIM, _show, check_elements

FORMAT = "lstmcore"
VERSION = 1

# Caps on what a file can make the loader do (see the module docstring):
# lstmcore.json: parsed JSON costs 15-25x its text in Python objects (16 MiB of "[[],[],..."
# took 400 MB), so 4 MiB bounds the parse near 100 MB; an LSTM layer with Adam state writes
# ~1.9 KB, so this still holds over 2000 of them (MAX_LAYERS).
MAX_JSON_BYTES = 4 << 20
MAX_JSON_DEPTH = 64         # nesting of lstmcore.json; lstmcore writes at most 8 levels
MAX_LAYERS = 2048           # Sequential.add is quadratic in the layer count (3000 layers: 0.8 s)
MAX_MEMBERS = 65_535        # zip entries (the plain zip limit); 4 MiB of JSON lists < 30000
MAX_DIRECTORY_BYTES = 8 << 20  # the zip's central directory (~64 bytes per member we write)
MAX_NPY_HEADER = 4096       # .npy header bytes; np.save writes 128 for our shapes
DEFLATE_MAX_RATIO = 1032    # deflate's maximum expansion (258 bytes from 2 bits), plus slack below
STALE_TMP_SECONDS = 3600    # a temporary file untouched this long belongs to no live save
_CHUNK = 1 << 20
_F32 = np.dtype("<f4")


class _Refused(ValueError):
    """A ValueError raised by the loader itself (never re-wrapped); the public entry points
    re-raise it as a plain ValueError, the documented type."""


def _plain_value_errors(load):
    @functools.wraps(load)
    def wrapper(*args, **kwargs):
        try:
            return load(*args, **kwargs)
        except _Refused as e:
            raise ValueError(str(e)) from None
    return wrapper


def _reason(e: BaseException, limit: int = 300) -> str:
    """An inner error's message for a loader error, cut short: some modules echo the value
    they received in full, and a file's value may be a 20 MB string."""
    text = str(e)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _name(text: str) -> str:
    """A member name (or other string) from the file for a message: as is when short and
    printable, else its repr cut to 100 characters."""
    return text if len(text) <= 100 and text.isprintable() else _show(text)


def _nbytes(shape) -> int:
    return 4 * math.prod(shape)


# -------------------------------------------------------------------------------------------------
# Writing
# -------------------------------------------------------------------------------------------------
def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def _entry(name: str, data: bytes, a: np.ndarray) -> dict:
    return {"name": name, "shape": list(a.shape), "sha256": hashlib.sha256(data).hexdigest()}


def model_to_bytes(model, include_optimizer: bool = True, include_compile: bool = True) -> bytes:
    """The model file's bytes; save_weights leaves out the compile settings and optimizer.
    Reads the model through its public API only (get_config, get_weights,
    get_compile_config, optimizer.get_weights)."""
    meta = {"format": FORMAT, "version": VERSION, "model": model.get_config(),
            "compile": None, "optimizer": None, "weights": [], "slots": []}
    files = {}
    for i, w in enumerate(model.get_weights()):
        data = _npy_bytes(w)
        name = f"weights/{i:04d}.npy"
        files[name] = data
        meta["weights"].append(_entry(name, data, w))
    compile_config = model.get_compile_config() if include_compile else None
    if compile_config is not None:
        meta["compile"] = {"loss": compile_config["loss"], "metrics": compile_config["metrics"]}
        if compile_config.get("loss_weights") is not None:
            meta["compile"]["loss_weights"] = compile_config["loss_weights"]
        meta["optimizer"] = compile_config["optimizer"]
        if include_optimizer and model.built:
            state = model.optimizer.get_weights()  # [iterations, *slots]
            meta["optimizer"]["iterations"] = int(state[0])
            for i, s in enumerate(state[1:]):
                data = _npy_bytes(s)
                name = f"optimizer/{i:04d}.npy"
                files[name] = data
                meta["slots"].append(_entry(name, data, s))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("lstmcore.json", json.dumps(meta, indent=1))
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _host_tag() -> str:
    """8 hex digits naming this machine, so that a pid is only judged on the host it is from
    (a folder may be shared over the network)."""
    return hashlib.sha256(platform.node().encode("utf-8", "replace")).hexdigest()[:8]


_TMP_NAME = re.compile(r"\.lstmcore-([0-9a-f]{8})-([0-9]{1,10})-[A-Za-z0-9_]+\.tmp\Z")


def _pid_alive(pid: int) -> bool:
    if os.name != "posix" or not 0 < pid < 2**31:
        return True  # no safe probe (os.kill on Windows terminates): only the age decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


def _remove_stale_tmp(folder: str) -> None:
    """Remove temporary files a killed save left in `folder`: those whose writer (pid, on this
    host) is dead, and any not modified for STALE_TMP_SECONDS (a pid may be reused; files from
    other hosts or from older lstmcore versions carry no usable pid). A live writer's file is
    kept. Never fails the save."""
    now = time.time()
    host = _host_tag()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(".lstmcore-") and name.endswith(".tmp")):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                continue
            m = _TMP_NAME.match(name)
            dead = m is not None and m.group(1) == host and not _pid_alive(int(m.group(2)))
            if dead or now - st.st_mtime > STALE_TMP_SECONDS:
                os.unlink(entry.path)
        except OSError:  # gone already (another save cleaned it), or not ours to remove
            continue


def _atomic_write(path, data: bytes) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    _remove_stale_tmp(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".lstmcore-{_host_tag()}-{os.getpid()}-", suffix=".tmp",
                               dir=folder)
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


def save_weights(model, filepath) -> None:
    """Weights only (same container, without compile settings or optimizer state)."""
    _atomic_write(filepath, model_to_bytes(model, include_optimizer=False, include_compile=False))


# -------------------------------------------------------------------------------------------------
# Reading: the archive
# -------------------------------------------------------------------------------------------------
# What zipfile, zlib and struct raise on malformed input (besides ValueError and its
# subclasses): compression method 97 and "zip file version 9.6" are NotImplementedError, the
# encrypted flag a RuntimeError, a corrupt deflate stream zlib.error.
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError,
               zlib.error, struct.error, OverflowError, IndexError, KeyError)


class _CappedReader:
    """Reads at most `cap` bytes of a member, hashing everything read (header included)."""

    def __init__(self, f, cap: int):
        self._f = f
        self.left = cap
        self.consumed = 0
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        if n <= 0:
            return b""
        data = self._f.read(n)
        self.left -= len(data)
        self.consumed += len(data)
        self.sha.update(data)
        return data


class _Archive:
    """A model file opened for reading: a path (streamed from disk) or bytes."""

    def __init__(self, source, what: str):
        self.what = what
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._fp = io.BytesIO(bytes(source))
            self.size = len(self._fp.getbuffer())
        else:
            self._fp = open(source, "rb")  # a missing file is the caller's OSError
            self.size = os.fstat(self._fp.fileno()).st_size
        try:
            self._check_directory()
            self.z = zipfile.ZipFile(self._fp)
        except _Refused:
            self.close()
            raise
        except _ZIP_ERRORS as e:
            self.close()
            raise _Refused(f"{what} is not an lstmcore model file (not a valid zip archive: "
                           f"{_reason(e)}); it may be truncated or of another format") from None
        except OSError as e:
            self.close()
            if e.errno != errno.EINVAL:  # EINVAL: a seek before the start, from a bad offset
                raise
            raise _Refused(f"{what} is not an lstmcore model file (not a valid zip archive: "
                           f"{_reason(e)}); it may be truncated or of another format") from None

    def _check_directory(self) -> None:
        """Refuse a central directory of more than MAX_MEMBERS entries or MAX_DIRECTORY_BYTES
        before zipfile turns each entry into an object (zipfile parses the directory's bytes
        whatever count the end record gives, so both are bounded). Uses zipfile's own
        end-record reader; without it, zipfile alone decides."""
        end = getattr(zipfile, "_EndRecData", None)
        if end is None:
            return
        rec = end(self._fp)
        self._fp.seek(0)
        if rec is None:
            return  # not a zip: ZipFile says so
        count, size = rec[zipfile._ECD_ENTRIES_TOTAL], rec[zipfile._ECD_SIZE]
        if count > MAX_MEMBERS or size > MAX_DIRECTORY_BYTES:
            raise _Refused(f"{self.what} is not an lstmcore model file: its zip directory lists "
                           f"{count} members in {size} bytes (at most {MAX_MEMBERS} members and "
                           f"{MAX_DIRECTORY_BYTES} bytes are read)")

    def close(self) -> None:
        self._fp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fail(self, problem: str):
        raise _Refused(f"{self.what} is damaged: {problem}") from None

    def member(self, name: str) -> zipfile.ZipInfo:
        """The ZipInfo of `name` after checking what can be checked without reading it."""
        info = self.z.NameToInfo.get(name)
        if info is None:
            raise KeyError(name)
        shown = _name(name)
        if info.flag_bits & 0x1:
            self._fail(f"{shown} is encrypted; lstmcore model files are never encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                self._fail(f"{shown} is stored uncompressed but declares {info.file_size} bytes "
                           f"in {info.compress_size}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > DEFLATE_MAX_RATIO * info.compress_size + 1024:
                self._fail(f"{shown} declares {info.file_size} bytes from {info.compress_size} "
                           f"compressed bytes, beyond deflate's maximum ratio of "
                           f"{DEFLATE_MAX_RATIO}:1")
        else:
            self._fail(f"{shown} uses zip compression method {info.compress_type}; lstmcore "
                       f"reads stored (0) and deflated (8) members")
        if info.header_offset < 0 or info.header_offset + info.compress_size > self.size:
            self._fail(f"{shown} lies outside the file ({info.compress_size} bytes at offset "
                       f"{info.header_offset} in a file of {self.size})")
        return info

    def _read_errors(self, name: str, e: BaseException):
        if isinstance(e, OSError) and e.errno != errno.EINVAL:
            raise e
        self._fail(f"{_name(name)} cannot be read ({_reason(e)})")

    def meta(self) -> dict:
        """lstmcore.json, read with a cap, parsed with a depth bound, format and version checked."""
        what = self.what
        try:
            info = self.member("lstmcore.json")
        except KeyError:
            raise _Refused(f"{what} is not an lstmcore model file: it has no lstmcore.json") from None
        if info.file_size > MAX_JSON_BYTES:
            self._fail(f"lstmcore.json declares {info.file_size} bytes; at most {MAX_JSON_BYTES} "
                       f"are read")
        chunks, total = [], 0
        try:
            with self.z.open(info) as f:
                while True:  # never trust file_size alone: the cap holds on what is read
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > MAX_JSON_BYTES:
                        self._fail(f"lstmcore.json holds more than {MAX_JSON_BYTES} bytes "
                                   f"(the most that is read)")
                    chunks.append(chunk)
        except _Refused:
            raise
        except (*_ZIP_ERRORS, OSError) as e:
            self._read_errors("lstmcore.json", e)
        raw = b"".join(chunks)
        del chunks
        try:
            meta = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except RecursionError:
            self._fail(f"lstmcore.json nests deeper than {MAX_JSON_DEPTH} levels")
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, a 5000-digit integer
            self._fail(f"lstmcore.json is not valid JSON ({_reason(e)})")
        _check_depth(meta, what)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _Refused(f"{what} is not an lstmcore model file (format tag missing)")
        if meta.get("version") != VERSION:
            raise _Refused(f"{what} has format version {_show(meta.get('version'))}; this "
                           f"lstmcore reads version {VERSION}. Save it again with a matching "
                           f"lstmcore.")
        return meta

    def check_members(self, entries, shapes, budget: bool) -> None:
        """Before reading anything: every entry names a readable member that can hold the
        expected array, the members do not overlap, and (`budget`) the archive holds at least
        the bytes the expected shapes need."""
        needed = available = compressed = 0
        names = set()
        for e, shape in zip(entries, shapes):
            if e.name in names:  # a weight and a slot naming one member
                self._fail(f"it lists {_name(e.name)} twice")
            names.add(e.name)
            try:
                info = self.member(e.name)
            except KeyError:
                self._fail(f"array entry {e.shown} is missing (the archive has no member "
                           f"{_name(e.name)})")
            need = _nbytes(shape)
            if info.file_size > need + MAX_NPY_HEADER and budget:
                self._fail(f"{_name(e.name)} holds {info.file_size} bytes; its architecture "
                           f"expects a float32 array of shape {shape} ({need} bytes and a "
                           f".npy header)")
            needed += need
            available += info.file_size
            compressed += info.compress_size
        if compressed > self.size:
            self._fail(f"its members claim {compressed} compressed bytes in a file of "
                       f"{self.size} (overlapping members)")
        if budget and needed > available:
            self._fail(f"its architecture needs {needed} bytes of arrays but the archive holds "
                       f"{available}")

    def array(self, e, expected, mismatch) -> np.ndarray:
        """One float32 array of shape `expected`, read streamed: header checked against the
        entry and `expected` (mismatch(shape) raises) before the array is allocated; data
        hashed while read and compared with the entry's sha256."""
        info = self.member(e.name)
        need = _nbytes(expected)
        name = _name(e.name)
        try:
            with self.z.open(info) as raw:
                # the header first, read under its own cap (numpy reads a declared header
                # length whole before checking it)
                f = _CappedReader(raw, min(info.file_size, MAX_NPY_HEADER))
                try:
                    version = np.lib.format.read_magic(f)
                    read_header = _NPY_HEADER_READERS.get(version)
                    if read_header is None:
                        raise ValueError(f"unsupported .npy format version {version}")
                    shape, fortran, dtype = read_header(f, **_NPY_HEADER_KW)
                except (ValueError, TypeError, SyntaxError, RecursionError, OverflowError) as err:
                    self._fail(f"{name} is not a valid array ({_reason(err)})")
                shape = tuple(shape)
                if dtype != _F32 or shape != e.shape:
                    self._fail(f"{name} has dtype {_name(str(dtype))} and shape {_show(shape)}; "
                               f"expected float32 {_show(e.shape)}")
                if shape != tuple(expected):
                    mismatch(shape)
                if info.file_size != f.consumed + need:
                    self._fail(f"{name} holds {info.file_size - f.consumed} bytes of data after "
                               f"its header; shape {shape} needs {need}")
                f.left = need
                buf = bytearray(need)
                view, pos = memoryview(buf), 0
                while pos < need:
                    chunk = f.read(min(_CHUNK, need - pos))
                    if not chunk:
                        self._fail(f"{name} is truncated ({pos} of {need} data bytes)")
                    view[pos:pos + len(chunk)] = chunk
                    pos += len(chunk)
                del view
        except _Refused:
            raise
        except (*_ZIP_ERRORS, OSError) as err:
            self._read_errors(e.name, err)
        if f.sha.hexdigest() != e.digest:
            self._fail(f"{name} does not match its checksum")
        a = np.frombuffer(buf, dtype=_F32).reshape(shape, order="F" if fortran else "C")
        return np.ascontiguousarray(a)


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}
# numpy >= 1.24 bounds the header itself too; older versions rely on the read cap alone.
_NPY_HEADER_KW = ({"max_header_size": MAX_NPY_HEADER} if "max_header_size" in
                  inspect.signature(np.lib.format.read_array_header_1_0).parameters else {})


def _no_constant(name):
    raise ValueError(f"{name} is not a number lstmcore writes")


def _check_depth(obj, what: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH, walked without recursion."""
    stack = [(obj, 1)]
    while stack:
        o, depth = stack.pop()
        if isinstance(o, dict):
            children = o.values()
        elif isinstance(o, list):
            children = o
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise _Refused(f"{what} is damaged: lstmcore.json nests deeper than {MAX_JSON_DEPTH} "
                           f"levels")
        stack.extend((c, depth + 1) for c in children)


class _Entry:
    __slots__ = ("name", "shape", "digest", "shown")

    def __init__(self, name, shape, digest, shown):
        self.name, self.shape, self.digest, self.shown = name, shape, digest, shown


def _entries(entries, what: str) -> list[_Entry]:
    """The array list of lstmcore.json, each entry checked for form (not yet against the
    archive or the architecture)."""
    if not isinstance(entries, list):
        raise _Refused(f"{what} is damaged: the array list is malformed")
    out, seen = [], set()
    for e in entries:
        shown = _show(e)
        if not isinstance(e, dict) or not {"name", "shape", "sha256"} <= e.keys():
            raise _Refused(f"{what} is damaged: array entry {shown} is malformed (expected "
                           f"'name', 'shape' and 'sha256')")
        name, shape, digest = e["name"], e["shape"], e["sha256"]
        if not isinstance(name, str) or not isinstance(digest, str) or \
                not isinstance(shape, list) or len(shape) > 32 or \
                not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise _Refused(f"{what} is damaged: array entry {shown} is malformed")
        if name in seen:
            raise _Refused(f"{what} is damaged: it lists {_name(name)} twice")
        seen.add(name)
        out.append(_Entry(name, tuple(shape), digest, shown))
    return out


# -------------------------------------------------------------------------------------------------
# Reading: what the file describes, checked before anything is built
# -------------------------------------------------------------------------------------------------
_CONFIG_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError,
                  NotImplementedError, OverflowError, RecursionError)


def _architecture(meta: dict, what: str, model_cls):
    """(layers, model name, [(layer name, weight label, shape)...] or None when the model has
    no input shape): the layers deserialized (nothing allocated) and the weight shapes derived
    from them."""
    from .layers import deserialize
    bad = f"{what} holds an invalid model architecture"
    config = meta.get("model")
    if isinstance(config, dict) and "input_layers" in config:
        return _functional_architecture(config, bad)
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise _Refused(f"{bad}: a Sequential config must be a dict with a 'layers' list")
    if len(config["layers"]) > MAX_LAYERS:
        raise _Refused(f"{bad}: it has {len(config['layers'])} layers; at most {MAX_LAYERS} are "
                       f"loaded")
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise _Refused(f"{bad}: the model name must be a string; received {_show(name)}")
    try:
        layers = [deserialize(c) for c in config["layers"]]
        for i, layer in enumerate(layers):
            if i > 0 and layer._batch_input_shape is not None:
                raise ValueError(f"only the first layer may set an input shape; layer "
                                 f"`{_name(layer.name)}` has {layer._batch_input_shape}")
            if getattr(layer, "return_state", False):
                raise ValueError(f"`{type(layer).__name__}(return_state=True)` cannot be used "
                                 f"inside Sequential")
        if not layers or layers[0]._batch_input_shape is None:
            return (lambda: model_cls(layers, name=name)), name, None
        shape = tuple(layers[0]._batch_input_shape[1:])
        if math.prod(s for s in shape if s is not None) > MAX_DIM:
            raise ValueError(f"the input shape {shape} has more than {MAX_DIM} (2**31 - 1) "
                             f"elements per sample")
        specs = []
        for layer in layers:
            labels = layer._weight_names
            for j, wshape in enumerate(layer._weight_shapes(shape)):
                if any(not 0 < s <= 4 * MAX_DIM for s in wshape):  # 4H for H <= MAX_DIM
                    raise ValueError(f"layer `{_name(layer.name)}` would have a weight of shape "
                                     f"{wshape}")
                specs.append((layer.name, labels[j] if j < len(labels) else str(j), wshape,
                              layer.trainable))
            shape = tuple(layer.compute_output_shape(shape))
            check_elements(shape, type(layer).__name__)
    except _CONFIG_ERRORS as e:
        raise _Refused(f"{bad}: {_reason(e)}") from None
    return (lambda: model_cls(layers, name=name)), name, specs


def _functional_architecture(config: dict, bad: str):
    """A functional model's graph, rebuilt from its config without allocating any weight,
    and its weight shapes; the returned maker allocates them once the file is checked."""
    from . import functional
    if not isinstance(config.get("layers"), list) or len(config["layers"]) > MAX_LAYERS:
        raise _Refused(f"{bad}: a functional config needs a 'layers' list of at most "
                       f"{MAX_LAYERS} layers")
    try:
        model = functional.rebuild(config, build=False)
        specs = functional.weight_specs(model)
        for layer_name, _, wshape, _ in specs:
            if any(not 0 < s <= 4 * MAX_DIM for s in wshape):
                raise ValueError(f"layer `{_name(layer_name)}` would have a weight of shape "
                                 f"{wshape}")
        for t in model.outputs:
            check_elements(t.shape[1:], t._node.layer.name)
    except _CONFIG_ERRORS as e:
        raise _Refused(f"{bad}: {_reason(e)}") from None

    def make():
        functional.build_layers(model)
        return model
    return make, model.name, specs


def _compile_settings(meta: dict, what: str):
    """(optimizer, loss, metrics, iterations) from the file, validated without a model."""
    from . import losses, optimizers
    from . import metrics as metrics_mod
    c, o = meta.get("compile"), meta.get("optimizer")
    bad = f"{what} holds invalid compile settings"
    if not isinstance(c, dict):
        raise _Refused(f"{bad}: 'compile' must be a dict; received {_show(c)}")
    if not isinstance(o, dict):
        raise _Refused(f"{bad}: 'optimizer' must be a dict with 'class_name' and 'config'; "
                       f"received {_show(o)}")
    try:
        loss = c["loss"]
        if isinstance(loss, (list, dict)):  # a functional model: one loss per output
            values = loss.values() if isinstance(loss, dict) else loss
            names = [losses.get(v) for v in values if v is not None]
            loss_name = names[0] if names else losses.get(None)
        else:
            loss_name = losses.get(loss)
        metrics = c.get("metrics") or None
        if metrics is not None and not isinstance(metrics, (list, dict)):
            raise ValueError(f"'metrics' must be a list; received {_show(metrics)}")
        flat = []
        for m in (metrics.values() if isinstance(metrics, dict) else metrics or []):
            flat.extend(m if isinstance(m, list) else [m])
        for m in flat:  # as compile resolves them (compile itself decides, later)
            if m is not None:
                metrics_mod.resolve(m, loss_name, 2)
        opt = optimizers.deserialize({k: v for k, v in o.items() if k != "iterations"})
        opt.iterations = optimizers.check_iterations(o.get("iterations", 0))
    except _CONFIG_ERRORS as e:
        raise _Refused(f"{bad}: {_reason(e)}") from None
    return opt, loss, metrics, opt.iterations, c.get("loss_weights")


def _slot_specs(opt, weight_specs):
    """The expected optimizer slots: per weight of a trainable layer (frozen ones have none),
    `_slots_per_weight()` flat arrays."""
    k = opt._slots_per_weight()
    return [(f"slot {j} of layer `{_name(name)}` {label}", (math.prod(shape),))
            for name, label, shape, trainable in weight_specs if trainable for j in range(k)]


def _check_slots(slots, opt, what: str) -> None:
    k = opt._slots_per_weight()
    nonneg = opt._nonnegative_slots()
    for i, s in enumerate(slots):
        if not np.isfinite(s).all():
            raise _Refused(f"{what} is damaged: its optimizer state (slot array {i}) contains "
                           f"NaN or Inf")
        if i % k in nonneg and (s < 0).any():
            raise _Refused(f"{what} is damaged: its optimizer state (slot array {i}, a running "
                           f"mean of squared gradients of {type(opt).__name__}) has negative "
                           f"values")


# -------------------------------------------------------------------------------------------------
# Loading
# -------------------------------------------------------------------------------------------------
def _shape_mismatch(what: str, verb: str, index: int, spec, received):
    name, label, shape = spec[:3]

    def fail(got=received):
        raise _Refused(f"{what} {verb}: weight {index} (layer `{_name(name)}`, {label}) must have "
                       f"shape {tuple(shape)}; received shape {_show(tuple(got))}")
    return fail


def _count_mismatch(what: str, verb: str, specs, received: int):
    shapes = _show([tuple(s[2]) for s in specs], 200)
    raise _Refused(f"{what} {verb}: the model expects {len(specs)} weight arrays {shapes}; "
                   f"received {received}")


@_plain_value_errors
def load(source, model_cls, compile: bool = True, what: str = "the model data"):
    """A model of `model_cls` (Sequential: models.py passes it, so this module imports no
    model code) from a path or bytes; everything is read and checked before building."""
    settings = None
    with _Archive(source, what) as arc:
        meta = arc.meta()
        make_model, name, specs = _architecture(meta, what, model_cls)
        entries = _entries(meta.get("weights"), what)
        if specs is None and entries:
            raise _Refused(f"{what} holds weights for a model without an input shape")
        specs = specs or []
        if len(entries) != len(specs):
            _count_mismatch(what, "does not match its architecture", specs, len(entries))
        slot_entries, slot_specs = [], []
        if compile and meta.get("compile"):
            settings = _compile_settings(meta, what)
            slot_entries = _entries(meta.get("slots", []), what)
            if slot_entries:
                if not specs:
                    raise _Refused(f"{what} holds optimizer state for a model without weights "
                                   f"or without an input shape")
                slot_specs = _slot_specs(settings[0], specs)
                if len(slot_entries) != len(slot_specs):
                    raise _Refused(f"{what} is damaged: its optimizer state does not match the "
                                   f"model ({len(slot_specs)} slot arrays expected for "
                                   f"{type(settings[0]).__name__}; received {len(slot_entries)})")
        arc.check_members(entries + slot_entries,
                          [s[2] for s in specs] + [s[1] for s in slot_specs], budget=True)
        weights = [arc.array(e, spec[2], _shape_mismatch(what, "does not match its architecture",
                                                         i, spec, None))
                   for i, (e, spec) in enumerate(zip(entries, specs))]
        slots = []
        for e, (label, shape) in zip(slot_entries, slot_specs):
            def mismatch(got, label=label, shape=shape):
                raise _Refused(f"{what} is damaged: its optimizer state does not match the model "
                               f"({label} must have shape {shape}; received {_show(got)})")
            slots.append(arc.array(e, shape, mismatch))
        if slots:
            _check_slots(slots, settings[0], what)
    # Everything read is checked; building allocates what the archive was shown to hold.
    try:
        model = make_model()
        model.set_weights(weights)
    except _CONFIG_ERRORS as e:
        raise _Refused(f"{what} does not match its architecture: {_reason(e)}") from None
    if settings is not None:
        opt, loss, metrics, iterations, loss_weights = settings
        try:
            if loss_weights is not None:
                model.compile(optimizer=opt, loss=loss, metrics=metrics,
                              loss_weights=loss_weights)
            else:
                model.compile(optimizer=opt, loss=loss, metrics=metrics)
        except _CONFIG_ERRORS as e:
            raise _Refused(f"{what} holds invalid compile settings: {_reason(e)}") from None
        if slots:
            try:
                model.optimizer.set_weights([iterations] + slots)
            except _CONFIG_ERRORS as e:
                raise _Refused(f"{what} is damaged: its optimizer state does not match the "
                               f"model ({_reason(e)})") from None
        else:
            model.optimizer.iterations = iterations
    return model


@_plain_value_errors
def load_weights(model, filepath) -> None:
    """Set `model`'s weights from a file; everything is read and checked before any weight
    changes, so a rejected file leaves the model as it was."""
    what = f"file {os.fspath(filepath)!r}"
    verb = "does not fit this model"
    specs = [(layer.name, layer._weight_names[j] if j < len(layer._weight_names) else str(j),
              tuple(w.shape)) for layer in model.layers for j, w in enumerate(layer.weights)]
    with _Archive(filepath, what) as arc:
        entries = _entries(arc.meta().get("weights"), what)
        if len(entries) != len(specs):
            _count_mismatch(what, verb, specs, len(entries))
        arc.check_members(entries, [s[2] for s in specs], budget=False)
        weights = [arc.array(e, spec[2], _shape_mismatch(what, verb, i, spec, None))
                   for i, (e, spec) in enumerate(zip(entries, specs))]
    try:
        model.set_weights(weights)
    except ValueError as e:
        raise _Refused(f"{what} {verb}: {_reason(e)}") from None
