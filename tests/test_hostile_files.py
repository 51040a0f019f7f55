"""Model files are hostile input (issue #10): every probe that once made the loader allocate
gigabytes, accept nonsense or raise something other than ValueError/OSError is a regression
test here. The hostile files are made by the tests themselves: mutations of a genuinely saved
model, or zips assembled byte by byte (``_zip``) where a header field must lie.

Memory bombs are loaded in a child process under an address-space ceiling (RLIMIT_AS), which
reports each file's exception and its peak RSS: every one must be a ValueError, and the peak
must stay near that of loading a small model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib

import lstmcore
import numpy as np
import pytest
from lstmcore import saving
from lstmcore.layers import LSTM, Dense, RepeatVector
from lstmcore.models import Sequential, load_model
from lstmcore.optimizers import SGD, Adam, RMSprop

T, F = 5, 2
X = np.random.default_rng(1).normal(size=(16, T, F)).astype(np.float32)
Y = np.random.default_rng(2).normal(size=(16, 1)).astype(np.float32)
MiB = 1 << 20


# -------------------------------------------------------------------------------------------------
# Building hostile files
# -------------------------------------------------------------------------------------------------
def _trained(opt=None):
    model = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    model.compile(optimizer=opt or Adam(0.01), loss="mse")
    model.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """(model, path of its saved file, its predictions on X)."""
    lstmcore.set_seed(0)
    model = _trained()
    path = tmp_path_factory.mktemp("good") / "good.lstmcore"
    model.save(path)
    return model, path, model.predict(X)


def _unpack(path):
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    return json.loads(files.pop("lstmcore.json")), files


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pack(meta, files, path, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr("lstmcore.json", meta if isinstance(meta, (bytes, str)) else json.dumps(meta))
        for name, data in files.items():
            z.writestr(name, data)
    return path


def _mutated(good_path, dst, change):
    """The good file after change(meta, files); arrays replaced by change get a fresh sha256,
    so only the intended defect remains."""
    meta, files = _unpack(good_path)
    before = dict(files)
    change(meta, files)
    entries = [e for key in ("weights", "slots") if isinstance(meta.get(key), list)
               for e in meta[key]]
    for e in entries:
        name = e.get("name") if isinstance(e, dict) else None
        if isinstance(name, str) and name in files and files[name] is not before.get(name):
            e["sha256"] = _sha(files[name])
    return _pack(meta, files, dst)


def _header(sig, name, method, flags, version, crc, csize, usize, offset=None):
    n = name.encode()
    if offset is None:  # local file header
        return struct.pack("<4sHHHHHIIIHH", sig, version, flags, method, 0, 0x21, crc, csize,
                           usize, len(n), 0) + n
    return struct.pack("<4sHHHHHHIIIHHHHHII", sig, 20, version, flags, method, 0, 0x21, crc,
                       csize, usize, len(n), 0, 0, 0, 0, 0, offset) + n


def _zip(members) -> bytes:
    """A zip assembled by hand, so any header field can lie. members: dicts with name, body
    (bytes as stored), and optionally method (0), flags (0), version (20), crc, usize
    (defaults: those of an uncompressed body), csize (len(body)), cd_csize (central
    directory's csize, default csize)."""
    out, central = bytearray(), bytearray()
    for m in members:
        body = m["body"]
        crc = m.get("crc", zlib.crc32(body))
        usize = m.get("usize", len(body))
        csize = m.get("csize", len(body))
        fields = (m.get("method", 0), m.get("flags", 0), m.get("version", 20), crc)
        offset = len(out)
        out += _header(b"PK\x03\x04", m["name"], *fields, csize, usize) + body
        central += _header(b"PK\x01\x02", m["name"], *fields, m.get("cd_csize", csize), usize,
                           offset=offset)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(central), len(out), 0)
    return bytes(out + central + end)


def _deflate_repeated(prefix: bytes, byte: bytes, mib: int):
    """(raw deflate stream, crc, size) of prefix + `mib` MiB of `byte`, made without holding
    the expansion: after a full flush every MiB of the same byte compresses identically."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)
    block = byte * MiB
    chunk = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    body = head + chunk * mib + co.flush()
    crc = zlib.crc32(prefix)
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    return body, crc, len(prefix) + mib * MiB


def _minimal_meta(layers, weights=(), **extra):
    meta = {"format": "lstmcore", "version": 1, "model": {"name": "m", "layers": layers},
            "compile": None, "optimizer": None, "weights": list(weights), "slots": []}
    meta.update(extra)
    return meta


def _lstm_cfg(units, batch_input_shape=None, **kw):
    cfg = {"units": units, **kw}
    if batch_input_shape is not None:
        cfg["batch_input_shape"] = batch_input_shape
    return {"class_name": "LSTM", "config": cfg}


def _raises(path, match, loader=load_model):
    with pytest.raises(ValueError, match=match) as e:
        loader(path)
    assert type(e.value) is not MemoryError and len(str(e.value)) < 1000
    return str(e.value)


# -------------------------------------------------------------------------------------------------
# Memory bombs, loaded in a child process under an address-space ceiling
# -------------------------------------------------------------------------------------------------
AS_LIMIT = 1536 * MiB   # RLIMIT_AS of the child; a small model loads and predicts well under it
RSS_GROWTH = 100 * MiB  # what one hostile file may add to the peak RSS of a normal load

_CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
import numpy as np
from lstmcore.models import load_model
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux: KiB
good = load_model(sys.argv[2])
good.predict(np.zeros((4, 5, 2), np.float32))
report = {"baseline": peak(), "files": []}
for path in sys.argv[3:]:
    try:
        load_model(path)
        kind, msg = "loaded", ""
    except BaseException as e:
        kind, msg = type(e).__name__, str(e)[:300]
    report["files"].append([path, kind, msg, peak()])
print(json.dumps(report))
"""


def _bombs(tmp, good_path):
    """{label: (path, expected message regex)}: each probe that once blew up memory."""
    out = {}
    d = tmp / "bombs"
    d.mkdir()

    # ~337 bytes: an LSTM of 5000 units on 5000 features whose three weight entries are not
    # in the archive (1.2 GB allocated by building it before anything was checked) ...
    entries = [{"name": f"w{i}", "shape": list(shape), "sha256": "0" * 64}
               for i, shape in enumerate([(5000, 20000), (5000, 20000), (20000,)])]
    meta = _minimal_meta([_lstm_cfg(5000, [None, 1, 5000])], entries)
    out["architecture_without_members"] = (
        _pack(meta, {}, d / "arch0.lstmcore"),
        r"is damaged: array entry .*'w0'.* is missing \(the archive has no member w0\)")
    # ... or with no weight entries at all
    meta = _minimal_meta([_lstm_cfg(10000, [None, 1, 10000])])
    out["architecture_without_weights"] = (
        _pack(meta, {}, d / "arch.lstmcore"),
        r"does not match its architecture: the model expects 3 weight arrays")

    # The same with three tiny arrays whose entries declare the huge shapes.
    files, entries = {}, []
    for i, shape in enumerate([(10000, 40000), (10000, 40000), (40000,)]):
        data = _npy(np.zeros(1, np.float32))
        files[f"weights/{i:04d}.npy"] = data
        entries.append({"name": f"weights/{i:04d}.npy", "shape": list(shape), "sha256": _sha(data)})
    meta = _minimal_meta([_lstm_cfg(10000, [None, 1, 10000])], entries)
    out["architecture_larger_than_arrays"] = (
        _pack(meta, files, d / "arch2.lstmcore"),
        r"its architecture needs 3200160000 bytes of arrays but the archive holds \d+")

    # 474 bytes: one fake weight of shape [10**8] (613 MB), and its .npy header agreeing.
    data = _npy(np.zeros(1, np.float32)).replace(b"(1,)", b"(100000000,)")
    meta = _minimal_meta([{"class_name": "Dense", "config": {"units": 1, "batch_input_shape":
                                                            [None, 10**8]}}],
                         [{"name": "w.npy", "shape": [10**8, 1], "sha256": _sha(data)},
                          {"name": "b.npy", "shape": [1], "sha256": _sha(data)}])
    out["fake_weight_1e8"] = (_pack(meta, {"w.npy": data, "b.npy": data}, d / "fake.lstmcore"),
                              r"needs \d+ bytes of arrays but the archive holds \d+")

    # .npy headers declaring 4 TiB (MemoryError from np.load) inside a well-formed file.
    meta, files = _unpack(good_path)
    huge = _npy(np.zeros((2, 16), np.float32)).replace(b"(2, 16)", b"(1099511627776, 1)")
    files["weights/0000.npy"] = huge
    meta["weights"][0].update(sha256=_sha(huge), shape=[1099511627776, 1])
    out["npy_header_4TiB"] = (_pack(meta, files, d / "npy4t.lstmcore"),
                              r"does not match its architecture: weight 0 \(layer `.*`, kernel\) "
                              r"must have shape \(2, 16\); received shape \(1099511627776, 1\)")

    # Zip bomb: the good file's weights as deflated members of 256 MiB of zeros (255 KB on
    # disk; 2 GB and 8 s when each was read whole before any check).
    meta, files = _unpack(good_path)
    body, crc, size = _deflate_repeated(b"", b"\0", 256)
    slots = [{"name": e["name"], "body": files[e["name"]]} for e in meta["slots"]]
    members = [{"name": "lstmcore.json", "body": json.dumps(meta).encode()}]
    members += [{"name": e["name"], "body": body, "method": 8, "crc": crc, "usize": size}
                for e in meta["weights"]] + slots
    out["zip_bomb_deflate"] = (_write(d / "bomb.lstmcore", _zip(members)),
                               r"weights/0000\.npy holds 268435456 bytes; its architecture "
                               r"expects a float32 array of shape \(2, 16\)")

    # The same bodies under sizes that lie (declared = what the architecture expects): the
    # read stops at the declared size and fails on the header, without expanding the rest.
    members = [{"name": "lstmcore.json", "body": json.dumps(meta).encode()}]
    members += [{"name": e["name"], "body": body, "method": 8, "crc": crc,
                 "usize": 128 + 4 * int(np.prod(e["shape"]))} for e in meta["weights"]] + slots
    out["zip_bomb_lying_sizes"] = (_write(d / "bomb2.lstmcore", _zip(members)),
                                   r"weights/0000\.npy (is not a valid array|cannot be read "
                                   r"\(Bad CRC-32)")

    # lstmcore.json padded with 512 MiB of spaces (it loaded), deflated to 530 KB.
    meta, files = _unpack(good_path)
    body, crc, size = _deflate_repeated(json.dumps(meta).encode(), b" ", 512)
    members = [{"name": "lstmcore.json", "body": body, "method": 8, "crc": crc, "usize": size}]
    members += [{"name": n, "body": b} for n, b in files.items()]
    out["json_512MiB_of_spaces"] = (_write(d / "spaces.lstmcore", _zip(members)),
                                    r"lstmcore\.json declares 5368\d{5} bytes; at most 4194304")
    # ... and declaring a size under the cap: the cap holds on what is read.
    members[0] = dict(members[0], usize=saving.MAX_JSON_BYTES - 1)
    out["json_spaces_lying_size"] = (_write(d / "spaces2.lstmcore", _zip(members)),
                                     r"lstmcore\.json cannot be read \(Bad CRC-32")
    return out


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and ru_maxrss in KiB")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer reserves terabytes of address space: no RLIMIT_AS")
def test_memory_bombs_are_refused_within_a_small_peak_rss(good, tmp_path):
    _, good_path, _ = good
    bombs = _bombs(tmp_path, good_path)
    assert max(p.stat().st_size for p, _ in bombs.values()) < 2 * MiB  # all small files
    # One OpenMP / OpenBLAS thread pair: thread stacks and malloc arenas count against RLIMIT_AS.
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
    run = subprocess.run([sys.executable, "-c", _CHILD, str(AS_LIMIT), str(good_path)]
                         + [str(p) for p, _ in bombs.values()],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    for (label, (path, match)), (_, kind, msg, peak) in zip(bombs.items(), report["files"]):
        assert kind == "ValueError", (label, kind, msg)
        assert str(path) in msg and _re_search(match, msg), (label, msg)
        grown = peak - report["baseline"]
        assert grown < RSS_GROWTH, f"{label}: peak RSS grew by {grown / MiB:.0f} MiB"


def _re_search(pattern, text):
    import re
    return re.search(pattern, text) is not None


def test_memory_bombs_in_process_too(good, tmp_path):
    """The same files in this process (they are refused before anything large is read), and
    through pickle's path (model_from_bytes), which names "the model data"."""
    _, good_path, _ = good
    for path, match in _bombs(tmp_path, good_path).values():
        _raises(path, match)
        if path.stat().st_size < 4 * MiB:
            with pytest.raises(ValueError, match=r"^the model data "):
                lstmcore.models.model_from_bytes(path.read_bytes())


# -------------------------------------------------------------------------------------------------
# Zip-level probes: every failure a ValueError naming the file
# -------------------------------------------------------------------------------------------------
def _good_members(good_path, **changes):
    """The good file's members for _zip, with per-member field changes {name: {field: v}}."""
    with zipfile.ZipFile(good_path) as z:
        members = [{"name": n, "body": z.read(n)} for n in z.namelist()]
    for m in members:
        m.update(changes.get(m["name"], {}))
    return members


def test_hand_assembled_good_file_loads(good, tmp_path):
    """Control for the probes below: _zip of the unchanged members is a valid model file."""
    model, good_path, pred = good
    path = _write(tmp_path / "same.lstmcore", _zip(_good_members(good_path)))
    np.testing.assert_array_equal(load_model(path).predict(X), pred)


@pytest.mark.parametrize("member", ["lstmcore.json", "weights/0001.npy"])
@pytest.mark.parametrize("field,value,match", [
    ("method", 97, r"uses zip compression method 97; lstmcore reads stored \(0\) and deflated"),
    ("method", 14, r"uses zip compression method 14"),   # LZMA (lzma.LZMAError when corrupt)
    ("method", 12, r"uses zip compression method 12"),   # bzip2: a 1000000:1 bomb
    ("flags", 1, r"is encrypted"),                        # RuntimeError: password required
    ("version", 96, r"not a valid zip archive: zip file version 9\.6\)"),
])
def test_zip_header_fields(good, tmp_path, member, field, value, match):
    _, good_path, _ = good
    path = _write(tmp_path / "odd.lstmcore", _zip(_good_members(good_path, **{member: {field: value}})))
    msg = _raises(path, match)
    assert str(path) in msg


@pytest.mark.parametrize("member", ["lstmcore.json", "weights/0001.npy"])
def test_corrupt_deflate_stream_is_a_value_error(good, tmp_path, member):
    """zlib.error escaped before."""
    _, good_path, _ = good
    members = _good_members(good_path)
    for m in members:
        if m["name"] == member:
            raw = m["body"]
            m.update(body=b"\xff" * 40 + zlib.compress(raw)[40:], method=8, crc=zlib.crc32(raw),
                     usize=len(raw))
    path = _write(tmp_path / "z.lstmcore", _zip(members))
    _raises(path, r"cannot be read \(Error -?\d+ while decompressing")


def test_lzma_and_bzip2_archives_are_refused(good, tmp_path):
    meta, files = _unpack(good[1])
    for method, number in ((zipfile.ZIP_LZMA, 14), (zipfile.ZIP_BZIP2, 12)):
        path = _pack(meta, files, tmp_path / f"m{number}.lstmcore", method=method)
        _raises(path, rf"lstmcore\.json uses zip compression method {number}")


def test_deflated_archive_loads_identically(good, tmp_path):
    """Stored is what lstmcore writes; a file re-zipped with deflate still loads bit for bit."""
    model, good_path, pred = good
    meta, files = _unpack(good_path)
    path = _pack(meta, files, tmp_path / "deflated.lstmcore", method=zipfile.ZIP_DEFLATED)
    loaded = load_model(path)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(X), pred)


def test_impossible_sizes_in_the_directory(good, tmp_path):
    _, good_path, _ = good
    # a deflated member claiming more than deflate can expand its compressed bytes to
    members = _good_members(good_path)
    raw = members[1]["body"]
    members[1].update(body=zlib.compress(raw)[2:-4], method=8, crc=zlib.crc32(raw),
                      usize=2000 * len(raw))
    _raises(_write(tmp_path / "r.lstmcore", _zip(members)), r"beyond deflate's maximum ratio")
    # a stored member whose sizes disagree
    members = _good_members(good_path, **{"weights/0000.npy": {"usize": 10**9}})
    _raises(_write(tmp_path / "s.lstmcore", _zip(members)), r"is stored uncompressed but declares")
    # the central directory claiming more compressed bytes than the file has
    members = _good_members(good_path, **{"weights/0000.npy": {"cd_csize": 10**6}})
    _raises(_write(tmp_path / "o.lstmcore", _zip(members)),
            r"lies outside the file|is stored uncompressed but declares")


def test_too_many_members_is_refused_before_listing_them(tmp_path):
    """A zip64 end record claiming 65536 entries is refused before zipfile reads the
    directory (each entry would become a Python object)."""
    n = saving.MAX_MEMBERS + 1
    zip64_end = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, 0, 0)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, 0, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                      0xFFFFFFFF, 0)
    path = _write(tmp_path / "many.lstmcore", zip64_end + locator + end)
    _raises(path, r"its zip directory lists 65536 members in 0 bytes \(at most 65535 members")
    # a count that looks fine over a directory of 9 MiB (zipfile parses the bytes, not the count)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, 9 * MiB, 0, 0)
    _raises(_write(tmp_path / "bigdir.lstmcore", end), r"lists 1 members in 9437184 bytes")


# -------------------------------------------------------------------------------------------------
# lstmcore.json probes
# -------------------------------------------------------------------------------------------------
def test_json_over_the_cap_stored(good, tmp_path):
    meta, files = _unpack(good[1])
    text = json.dumps(meta) + " " * saving.MAX_JSON_BYTES
    _raises(_pack(text, files, tmp_path / "big.lstmcore"), r"lstmcore\.json declares 419\d{4} "
                                                           r"bytes; at most 4194304 are read")
    # just under the cap it loads
    text = json.dumps(meta).ljust(saving.MAX_JSON_BYTES)
    np.testing.assert_array_equal(load_model(_pack(text, files, tmp_path / "ok.lstmcore"))
                                  .predict(X), good[2])


def test_layer_count_is_bounded(tmp_path):
    """Sequential.add is quadratic in the layer count: 90000 tiny layer configs fit in the JSON
    cap and would have taken minutes to build."""
    layers = [{"class_name": "Dense", "config": {"units": 1, "batch_input_shape": [None, 1]}}]
    layers += [{"class_name": "Dropout", "config": {"rate": 0}}] * saving.MAX_LAYERS
    t0 = time.perf_counter()
    _raises(_pack(_minimal_meta(layers), {}, tmp_path / "l.lstmcore"),
            r"invalid model architecture: it has 2049 layers; at most 2048 are loaded")
    assert time.perf_counter() - t0 < 1.0


def test_json_nesting(good, tmp_path):
    meta, files = _unpack(good[1])
    # 100000 nested '[' made json raise RecursionError
    _raises(_pack("[" * 100000, files, tmp_path / "deep.lstmcore"),
            r"lstmcore\.json nests deeper than 64 levels")
    # deep but parseable, hidden where no one looks
    deep = []
    for _ in range(70):
        deep = [deep]
    meta["extra"] = deep
    _raises(_pack(meta, files, tmp_path / "deep2.lstmcore"), r"nests deeper than 64 levels")


@pytest.mark.parametrize("text,match", [
    ('{"format": "lstmcore", "version": NaN}', r"not valid JSON \(NaN is not a number"),
    ('{"format": "lstmcore", "version": 1' + "1" * 5000 + "}", r"not valid JSON"),
    (b'{"format": "lstmcore", "version": 1, "x": "\xff"}', r"not valid JSON"),
    ('"lstmcore"', r"format tag missing"),
])
def test_json_values(tmp_path, text, match):
    _raises(_pack(text, {}, tmp_path / "j.lstmcore"), match)


def test_long_strings_are_not_echoed(good, tmp_path):
    """A 20 MB string was echoed in full; now it cannot even get in (the JSON cap), and a
    long one in any field comes back cut to 100 characters."""
    meta, files = _unpack(good[1])
    big = "A" * MiB
    cases = {
        "class_name": lambda m: m["model"]["layers"][0].update(class_name=big),
        "activation": lambda m: m["model"]["layers"][0]["config"].update(activation=big),
        "units": lambda m: m["model"]["layers"][0]["config"].update(units=big),
        "unknown_arg": lambda m: m["model"]["layers"][0]["config"].update({big: 1}),
        "layer_name": lambda m: m["model"]["layers"][0]["config"].update(name=big, units=5),
        "member_name": lambda m: m["weights"][0].update(name=big),
        "loss": lambda m: m["compile"].update(loss=big),
        "metric": lambda m: m["compile"].update(metrics=[big]),
        "optimizer": lambda m: m["optimizer"].update(class_name=big),
        "lr": lambda m: m["optimizer"]["config"].update(learning_rate=big),
        "version": lambda m: m.update(version=big),
        "model_name": lambda m: m["model"].update(name=[big]),
    }
    for label, change in cases.items():
        m = json.loads(json.dumps(meta))
        change(m)
        path = _pack(m, files, tmp_path / f"{label}.lstmcore")
        with pytest.raises(ValueError) as e:
            load_model(path)
        assert len(str(e.value)) < 800, (label, len(str(e.value)))
    m = json.loads(json.dumps(meta))
    m["model"]["name"] = "B" * (20 * MiB)  # over the JSON cap
    _raises(_pack(m, files, tmp_path / "20mb.lstmcore"), r"lstmcore\.json declares \d+ bytes")


# -------------------------------------------------------------------------------------------------
# Architecture and array probes
# -------------------------------------------------------------------------------------------------
def test_repeat_vector_of_2_62_is_refused(tmp_path):
    """Loaded, then crashed natively; now refused by the constructor, in code and in files."""
    with pytest.raises(ValueError, match=r"`RepeatVector` expects `n` to be a positive integer of "
                                         r"at most 2147483647 \(2\*\*31 - 1\); received n=2\*\*62|"
                                         r"received n=4611686018427387904"):
        RepeatVector(2**62)
    layers = [_lstm_cfg(4, [None, T, F]), {"class_name": "RepeatVector", "config": {"n": 2**62}},
              _lstm_cfg(3)]
    _raises(_pack(_minimal_meta(layers), {}, tmp_path / "rv.lstmcore"),
            r"invalid model architecture: `RepeatVector` expects `n` to be a positive integer of "
            r"at most 2147483647")
    # within the per-dimension bound but 2**32 elements per sample
    layers[1]["config"]["n"] = 2**30
    _raises(_pack(_minimal_meta(layers), {}, tmp_path / "rv2.lstmcore"),
            r"`RepeatVector` would produce a per-sample shape \(1073741824, 4\) of 4294967296 "
            r"elements")


@pytest.mark.parametrize("make,match", [
    (lambda: LSTM(2**31), r"`LSTM` expects `units` to be a positive integer of at most 2147483647"),
    (lambda: Dense(10**12), r"`Dense` expects `units` .*received units=1000000000000"),
    (lambda: LSTM(2, input_shape=(2**31, 1)), r"`input_shape` entries must be at most 2147483647"),
    (lambda: LSTM(2, batch_input_shape=(2**31, 5, 1)), r"`batch_input_shape` entries must be at "
                                                       r"most 2147483647"),
    (lambda: Dense(2, input_dim=2**40), r"`Dense` expects `input_dim` to be a positive integer of "
                                        r"at most"),
    (lambda: LSTM(2, input_dim=3, input_length=2**31), r"`input_length` to be a positive integer"),
    (lambda: Dense(2, input_shape=(1,) * 33), r"`input_shape` may have at most 32 entries"),
    (lambda: Dense(2, input_shape=()), r"`input_shape` must give the per-sample shape"),
    (lambda: Sequential([LSTM(4, input_shape=(T, F)), RepeatVector(2**30)]),
     r"`RepeatVector` would produce a per-sample shape"),
])
def test_dimension_bounds_in_user_code(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_largest_dimensions_are_accepted_without_allocating():
    assert RepeatVector(2**31 - 1).n == 2**31 - 1
    layer = LSTM(2**31 - 1, batch_input_shape=(2**31 - 1, 2**31 - 1, 3))
    assert layer._weight_shapes((2**31 - 1, 3)) == [(3, 4 * (2**31 - 1)),
                                                   (2**31 - 1, 4 * (2**31 - 1)),
                                                   (4 * (2**31 - 1),)]


def test_weight_shapes_describe_build():
    """build uses _weight_shapes: one description of every layer's weights."""
    from lstmcore.layers import Bidirectional, TimeDistributed
    model = Sequential([Bidirectional(LSTM(3, return_sequences=True, use_bias=False),
                                      input_shape=(T, F)),
                        TimeDistributed(Dense(2)), LSTM(4), Dense(3, use_bias=False)])
    shape = model._input_shape
    for layer in model.layers:
        assert [w.shape for w in layer.weights] == layer._weight_shapes(shape)
        shape = layer.compute_output_shape(shape)


def test_units_far_beyond_the_arrays(good, tmp_path):
    """Below the per-dimension bound, yet 16 TB of weights: refused by the archive budget."""
    def huge(meta, files):
        meta["model"]["layers"][0]["config"]["units"] = 10**6
    msg = _raises(_mutated(good[1], tmp_path / "u.lstmcore", huge),
                  r"its architecture needs \d+ bytes of arrays but the archive holds \d+")
    assert "needs 48000156000012 bytes" in msg  # (2, 4e6) + (1e6, 4e6) + (4e6,) floats


def test_npy_header_disagreements(good, tmp_path):
    _, good_path, _ = good

    def fortran(meta, files):  # an order lstmcore does not write is read correctly
        a = np.load(io.BytesIO(files["weights/0000.npy"]))
        files["weights/0000.npy"] = _npy(np.asfortranarray(a))
    np.testing.assert_array_equal(load_model(_mutated(good_path, tmp_path / "f", fortran))
                                  .predict(X), good[2])

    def big_endian(meta, files):
        a = np.load(io.BytesIO(files["weights/0000.npy"]))
        files["weights/0000.npy"] = _npy(a.astype(">f4"))
    _raises(_mutated(good_path, tmp_path / "be", big_endian), r"has dtype >f4 and shape \(2, 16\)")

    def pickled(meta, files):
        buf = io.BytesIO()
        np.save(buf, np.array([None] * 32).reshape(2, 16), allow_pickle=True)
        files["weights/0000.npy"] = buf.getvalue()
    with pytest.raises(ValueError, match=r"has dtype object"):
        load_model(_mutated(good_path, tmp_path / "p", pickled))

    def bad_header(meta, files):
        files["weights/0000.npy"] = files["weights/0000.npy"].replace(b"'descr'", b"'dascr'")
    _raises(_mutated(good_path, tmp_path / "h", bad_header), r"weights/0000\.npy is not a valid "
                                                            r"array")

    def not_npy(meta, files):
        files["weights/0000.npy"] = b"\0" * 256
    _raises(_mutated(good_path, tmp_path / "n", not_npy), r"is not a valid array")

    def long_header(meta, files):
        a = np.load(io.BytesIO(files["weights/0000.npy"]))
        raw = _npy(a)
        hlen = struct.unpack("<H", raw[8:10])[0]
        pad = 60000
        files["weights/0000.npy"] = raw[:8] + struct.pack("<H", hlen + pad) + raw[10:10 + hlen - 1] \
            + b" " * pad + b"\n" + raw[10 + hlen:]
    long = _mutated(good_path, tmp_path / "lh", long_header)
    _raises(long, r"weights/0000\.npy holds 60256 bytes; its architecture expects a float32 "
                  r"array of shape \(2, 16\)")
    # load_weights skips that budget (the model exists): the read cap refuses it instead
    _raises(long, r"weights/0000\.npy is not a valid array \(EOF: reading array header",
            Sequential([LSTM(4, input_shape=(T, F)), Dense(1)]).load_weights)

    def truncated(meta, files):
        files["weights/0000.npy"] = files["weights/0000.npy"][:-8]
    _raises(_mutated(good_path, tmp_path / "t", truncated), r"holds 120 bytes of data after its "
                                                           r"header; shape \(2, 16\) needs 128")

    def duplicate(meta, files):
        meta["weights"][1]["name"] = meta["weights"][0]["name"]
    _raises(_mutated(good_path, tmp_path / "d", duplicate), r"lists weights/0000\.npy twice")

    def slot_is_a_weight(meta, files):
        meta["slots"][0]["name"] = meta["weights"][2]["name"]
    _raises(_mutated(good_path, tmp_path / "sw", slot_is_a_weight), r"lists weights/0002\.npy "
                                                                   r"twice")

    def malformed_entry(meta, files):
        meta["weights"][0]["shape"] = "2x16"
    _raises(_mutated(good_path, tmp_path / "me", malformed_entry), r"array entry .* is malformed")


def test_structural_nonsense(good, tmp_path):
    _, good_path, _ = good
    cases = [
        (lambda m, f: m["model"]["layers"][0].update(config=[]), r"must be a dict"),
        (lambda m, f: m["model"]["layers"].append({"class_name": "Dense", "config": {
            "units": 1, "batch_input_shape": [None, 3]}}), r"only the first layer may set"),
        (lambda m, f: m["model"]["layers"][0]["config"].update(return_state=True),
         r"return_state=True\)` cannot be used inside Sequential"),
        (lambda m, f: m["model"]["layers"][0]["config"].update(batch_input_shape=[None, 5]),
         r"`LSTM` expects 3D input"),
        (lambda m, f: m["model"]["layers"][0]["config"].update(batch_input_shape="abc"),
         r"`batch_input_shape` must be a tuple; received batch_input_shape='abc'"),
        (lambda m, f: m["model"]["layers"][0]["config"].update(batch_input_shape=[None, 0, 2]),
         r"entries must be positive integers"),
        (lambda m, f: m["model"]["layers"][0]["config"].update(
            batch_input_shape=[None, 2**31 - 1, 2**31 - 1]),
         r"the input shape \(2147483647, 2147483647\) has more than 2147483647"),
        (lambda m, f: m["model"]["layers"][0]["config"].update(dropout=float("1e400")),
         r"not valid JSON|expects `dropout`"),
        (lambda m, f: m["model"]["layers"].clear(), r"holds weights for a model without an "
                                                    r"input shape"),
        (lambda m, f: m["model"]["layers"].pop(), r"the model expects 3 weight arrays \[\(2, 16\), "
                                                  r"\(4, 16\), \(16,\)\]; received 5"),
        (lambda m, f: m["model"]["layers"][0]["config"].pop("batch_input_shape"),
         r"holds weights for a model without an input shape"),
        (lambda m, f: m.update(weights={}), r"the array list is malformed"),
    ]
    for i, (change, match) in enumerate(cases):
        path = _mutated(good_path, tmp_path / f"s{i}.lstmcore", change)
        _raises(path, match)


# -------------------------------------------------------------------------------------------------
# Optimizer state and hyper-parameters
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change,match", [
    (lambda m, f: m["optimizer"].update(iterations=-1), r"`iterations` must be an integer in "
                                                        r"\[0, 2\*\*62\); received iterations=-1"),
    (lambda m, f: m["optimizer"].update(iterations=10**30), r"received iterations=10{30}"),
    (lambda m, f: m["optimizer"].update(iterations=2**62), r"received iterations=4611686018427387904"),
    (lambda m, f: m["optimizer"].update(iterations=1.5), r"received iterations=1\.5"),
    (lambda m, f: m["optimizer"].update(iterations=True), r"received iterations=True"),
    (lambda m, f: m["optimizer"].update(config=[]), r"the config of a `Adam` optimizer must be a "
                                                    r"dict; received \[\]"),
    (lambda m, f: m["optimizer"].update(class_name="AdamW"), r"unknown optimizer config"),
    (lambda m, f: m["optimizer"].update(class_name=["Adam"]), r"unknown optimizer config"),
    (lambda m, f: m["optimizer"]["config"].update(learning_rate=1e39),
     r"`Adam` expects `learning_rate` to be finite in float32"),
    (lambda m, f: m["optimizer"]["config"].update(learning_rate=-1), r"`learning_rate` > 0"),
    (lambda m, f: m["optimizer"]["config"].update(beta_2=1.0), r"`beta_2` in \[0\.0, 1\.0\)"),
    (lambda m, f: m["optimizer"]["config"].update(amsgrad=True), r"amsgrad=True\)` is not "
                                                                 r"supported"),
    (lambda m, f: m["optimizer"]["config"].update(momentum=0.9), r"unexpected keyword"),
    (lambda m, f: m["optimizer"]["config"].update(name=5), r"`name` to be a string"),
    (lambda m, f: m.update(compile=[1]), r"'compile' must be a dict"),
    (lambda m, f: m["compile"].update(metrics="mae"), r"'metrics' must be a list"),
    (lambda m, f: f.update({"optimizer/0001.npy": _npy(-np.ones(32, np.float32))}),
     r"\(slot array 1, a running mean of squared gradients of Adam\) has negative values"),
    (lambda m, f: f.update({"optimizer/0000.npy": _npy(np.full(32, np.inf, np.float32))}),
     r"\(slot array 0\) contains NaN or Inf"),
    (lambda m, f: f.update({"optimizer/0000.npy": _npy(np.zeros(33, np.float32))}),
     r"has dtype float32 and shape \(33,\); expected float32 \(32,\)"),
    (lambda m, f: (f.update({"optimizer/0000.npy": _npy(np.zeros(33, np.float32))}),
                   m["slots"][0].update(shape=[33])),
     r"its optimizer state does not match the model \(slot 0 of layer `lstm.*` kernel must "
     r"have shape \(32,\); "
     r"received \(33,\)\)"),
    (lambda m, f: m["slots"].append(dict(m["slots"][0], name="x")), r"its optimizer state does "
                                                                     r"not match the model \(10 "
                                                                     r"slot arrays expected for "
                                                                     r"Adam; received 11\)"),
])
def test_optimizer_state_from_a_file(good, tmp_path, change, match):
    msg = _raises(_mutated(good[1], tmp_path / "o.lstmcore", change), match)
    assert str(tmp_path / "o.lstmcore") in msg


def test_iterations_minus_one_would_have_made_adam_nan(good, tmp_path):
    """Why the range matters: iterations=-1 made the next Adam step divide by 1 - beta**0."""
    def keep(meta, files):
        meta["optimizer"]["iterations"] = 0
    loaded = load_model(_mutated(good[1], tmp_path / "i0.lstmcore", keep))
    loaded.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(w).all() for w in loaded.get_weights())


@pytest.mark.parametrize("opt", [lambda: RMSprop(0.01), lambda: SGD(0.05, momentum=0.9)],
                         ids=["rmsprop", "sgd_momentum"])
def test_other_optimizers_slots_are_checked(tmp_path, opt):
    model = _trained(opt())
    model.save(tmp_path / "m.lstmcore")

    def negative(meta, files):
        files["optimizer/0000.npy"] = _npy(np.full(32, -1.0, np.float32))
    loader = load_model
    if isinstance(model.optimizer, RMSprop):
        _raises(_mutated(tmp_path / "m.lstmcore", tmp_path / "n.lstmcore", negative),
                r"RMSprop\) has negative values", loader)
    else:  # a velocity may be negative
        loaded = load_model(_mutated(tmp_path / "m.lstmcore", tmp_path / "n.lstmcore", negative))
        np.testing.assert_array_equal(np.asarray(loaded._native().optimizer_slots()[0]), -1.0)


def test_optimizer_hyper_parameters_must_be_finite_in_float32():
    assert SGD(lr=1e38).learning_rate == 1e38
    assert Adam(lr=3.4028234663852886e38).lr == 3.4028234663852886e38
    for make in (lambda: Adam(lr=1e39), lambda: SGD(learning_rate=1e39),
                 lambda: RMSprop(lr=float("inf"))):
        with pytest.raises(ValueError, match=r"`(Adam|SGD|RMSprop)` expects `(lr|learning_rate)`"):
            make()
    with pytest.raises(ValueError, match=r"`SGD` expects `momentum` to be finite in float32 "
                                         r"\(\|momentum\| <= 3\.4028234663852886e\+38\); received "
                                         r"momentum=1e\+39"):
        SGD(momentum=1e39)
    with pytest.raises(ValueError, match=r"`Adam` expects `epsilon` to be finite in float32"):
        Adam(epsilon=1e300)
    with pytest.raises(ValueError, match=r"`RMSprop` expects `decay` to be finite in float32"):
        RMSprop(decay=1e39)
    opt = Adam()
    for attr in ("lr", "learning_rate"):
        for bad in (1e39, float("nan"), 0.0, "x" * 10**6):
            with pytest.raises(ValueError, match=rf"`Adam` expects `{attr}`") as e:
                setattr(opt, attr, bad)
            assert len(str(e.value)) < 300
    assert opt.lr == opt.learning_rate == 0.001
    opt.learning_rate = 0.5
    assert opt.lr == 0.5 and opt.get_config()["learning_rate"] == 0.5


# -------------------------------------------------------------------------------------------------
# Nothing half-loaded
# -------------------------------------------------------------------------------------------------
def _weight_damages():
    def shape(meta, files):
        files["weights/0000.npy"] = _npy(np.zeros((3, 16), np.float32))
        meta["weights"][0]["shape"] = [3, 16]

    def nan(meta, files):
        a = np.load(io.BytesIO(files["weights/0003.npy"]))
        a[0, 0] = np.nan
        files["weights/0003.npy"] = _npy(a)

    def checksum(meta, files):
        meta["weights"][4]["sha256"] = "0" * 64

    def header(meta, files):
        files["weights/0004.npy"] = _npy(np.zeros(1, np.float32)).replace(b"(1,)", b"(10000000000,)")
        meta["weights"][4]["shape"] = [10**10]

    def count(meta, files):
        meta["weights"].pop()
    return {"shape": shape, "nan": nan, "checksum": checksum, "header": header, "count": count}


@pytest.mark.parametrize("damage", list(_weight_damages()))
def test_rejected_weights_file_leaves_the_model_as_it_was(good, tmp_path, damage):
    """The last array is bad (or the list is short): load_weights reads and checks all of them
    before writing any, and load_model of the good file still predicts what was saved."""
    model, good_path, pred = good
    fresh = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    fresh.load_weights(good_path)
    path = _mutated(good_path, tmp_path / "bad.lstmcore", _weight_damages()[damage])
    with pytest.raises(ValueError, match=r"bad\.lstmcore"):
        fresh.load_weights(path)
    with pytest.raises(ValueError, match=r"bad\.lstmcore"):
        load_model(path)
    np.testing.assert_array_equal(fresh.predict(X), pred)
    np.testing.assert_array_equal(load_model(good_path).predict(X), pred)


def test_rejected_files_of_every_kind_leave_loading_intact(good, tmp_path):
    """After a file of each kind above is refused, the good file still loads and predicts
    what the saved model did, and continues training like the original."""
    model, good_path, pred = good
    fresh = Sequential([LSTM(4, input_shape=(T, F)), Dense(1)])
    fresh.load_weights(good_path)
    rejected = [p for p, _ in _bombs(tmp_path, good_path).values()]
    for i, change in enumerate([lambda m, f: m["optimizer"].update(iterations=-1),
                                lambda m, f: m["model"]["layers"][0]["config"].update(units=2**62),
                                lambda m, f: m.update(version=2)]):
        rejected.append(_mutated(good_path, tmp_path / f"k{i}.lstmcore", change))
    rejected.append(_write(tmp_path / "enc.lstmcore",
                           _zip(_good_members(good_path, **{"weights/0000.npy": {"flags": 1}}))))
    for path in rejected:
        for loader in (load_model, fresh.load_weights):
            try:
                loader(path)
            except ValueError:
                pass
        np.testing.assert_array_equal(fresh.predict(X), pred)
    loaded = load_model(good_path)
    np.testing.assert_array_equal(loaded.predict(X), pred)
    dup = pickle.loads(pickle.dumps(loaded))
    h1 = loaded.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    h2 = dup.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert h1.history == h2.history


# -------------------------------------------------------------------------------------------------
# Temporary files of a killed save
# -------------------------------------------------------------------------------------------------
_SLOW_SAVE = r"""
import os, sys, time
from lstmcore.layers import Dense
from lstmcore.models import Sequential
os.fsync = lambda fd: time.sleep(60)          # the save stops here, its temp file written
Sequential([Dense(1, input_shape=(2,))]).save(sys.argv[1])
"""


def _tmp_files(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".lstmcore-") and n.endswith(".tmp"))


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_temp_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    target = tmp_path / "m.lstmcore"
    child = subprocess.Popen([sys.executable, "-c", _SLOW_SAVE, str(target)])
    try:
        deadline = time.monotonic() + 30
        while not _tmp_files(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        left = _tmp_files(tmp_path)
        assert len(left) == 1 and f"-{child.pid}-" in left[0]
        # while the writer lives, another save leaves its file alone
        Sequential([Dense(1, input_shape=(2,))]).save(tmp_path / "other.lstmcore")
        assert _tmp_files(tmp_path) == left
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _tmp_files(tmp_path) == left and not target.exists()  # what SIGKILL leaves behind

    # an old leftover of an earlier lstmcore (no pid in its name), and a fresh one
    old, fresh = tmp_path / ".lstmcore-abcd1234.tmp", tmp_path / ".lstmcore-efgh5678.tmp"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    past = time.time() - 2 * saving.STALE_TMP_SECONDS
    os.utime(old, (past, past))
    # a temp file of a live process (this one) on this host
    live = tmp_path / f".lstmcore-{saving._host_tag()}-{os.getpid()}-abcdefgh.tmp"
    live.write_bytes(b"z")

    Sequential([Dense(1, input_shape=(2,))]).save(target)
    assert _tmp_files(tmp_path) == sorted([fresh.name, live.name])
    assert load_model(target).predict(np.zeros((1, 2))).shape == (1, 1)
