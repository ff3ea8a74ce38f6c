#!/usr/bin/env python3
"""Convert FLAME 2020 (generic_model.pkl) plus DECA's data/ files into ned's single FLAME asset.

    python3 scripts/convert_flame.py --flame generic_model.pkl --deca-data DECA/data --out flame.safetensors

Output: one safetensors file, __metadata__ format "ned.flame", version "1", with
  v_template [V,3] f32, faces [F,3] i64, shapedirs [V,3,300] f32, exprdirs [V,3,100] f32,
  posedirs [V,3,36] f32, J_regressor [5,V] f32 (dense), lbs_weights [V,5] f32, parents [5] i64 (root -1),
  static_lmk_faces_idx [51] i64, static_lmk_bary_coords [51,3] f32,
  dynamic_lmk_faces_idx [79,17] i64, dynamic_lmk_bary_coords [79,17,3] f32,
  full_lmk_faces_idx [68] i64, full_lmk_bary_coords [68,3] f32
and, when the files are found (needed only for detail rendering):
  uv_coords [VT,2] f32 + uv_faces [F,3] i64   from head_template.obj (vt, f v/vt)
  fixed_displacement [256,256] f32            from fixed_displacement_256.npy
  uv_face_eye_mask [256,256] f32 in [0,1]     from uv_face_eye_mask.png (channel 0 / 255)

Needs numpy only. generic_model.pkl is a Python-2 pickle of chumpy objects and a scipy sparse matrix;
it is read with a restricted unpickler that substitutes small stand-in classes, so neither chumpy nor
scipy is needed. DECA's landmark_embedding.npy stores two of its entries as pickled torch tensors; if
torch is not installed those are decoded by a torch-free reader of torch's storage format.
See docs/models.md for where the files come from and their licences.
"""
import argparse
import io
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ned_safetensors  # noqa: E402  (scripts/ned_safetensors.py)


def write_safetensors(path, tensors, metadata):
    """Write {name: np.ndarray} and a {str: str} metadata dict as a safetensors file (atomically)."""
    ned_safetensors.write_numpy(path, tensors, metadata)


# --------------------------------------------------------------------------------------------------
# stand-ins for chumpy / scipy.sparse / torch objects inside pickles

class _Stub(object):
    """Captures whatever state an unknown class was pickled with."""

    def __init__(self, *args, **kwargs):
        self._args = args
        self._kwargs = kwargs

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = dict(state[0] or {}, **state[1])
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state


class ChumpyStub(_Stub):
    """chumpy.ch.Ch (and subclasses): the value is in the state entry 'x'."""


class SparseStub(_Stub):
    """scipy.sparse csc/csr/coo matrix: rebuilt densely from data/indices/indptr."""


def _reconstruct_stub(cls, base, state):  # copy_reg._reconstructor
    obj = cls.__new__(cls) if isinstance(cls, type) else _Stub()
    return obj


class _StubUnpickler(pickle.Unpickler):
    def __init__(self, f, torch_storages=None):
        super().__init__(f, encoding="latin1")
        self._torch_storages = torch_storages

    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return ChumpyStub
        if module.startswith("scipy.sparse"):
            return SparseStub
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _reconstruct_stub
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._tensor" and name == "_rebuild_from_type_v2":
            return lambda func, new_type, args, state: func(*args)
        if module == "torch.storage" and name == "_load_from_bytes":
            return _load_storage_from_bytes
        if module == "torch" and name.endswith("Storage"):
            return _storage_dtype(name)
        if module == "collections" and name == "OrderedDict":
            import collections
            return collections.OrderedDict
        if module.startswith("numpy") or module in ("builtins", "__builtin__", "_codecs"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError("unexpected class %s.%s in pickle" % (module, name))


def to_numpy(obj, what):
    """A numpy array from an ndarray, a chumpy stand-in, a sparse stand-in or a torch tensor."""
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "toarray") and not isinstance(obj, _Stub):  # real scipy sparse
        return np.asarray(obj.toarray())
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # real torch tensor
        return obj.detach().cpu().numpy()
    if isinstance(obj, SparseStub):
        d = obj.__dict__
        shape = tuple(d.get("_shape", d.get("shape")))
        data, indices, indptr = (np.asarray(d[k]) for k in ("data", "indices", "indptr"))
        dense = np.zeros(shape, dtype=np.float64)
        fmt = d.get("format", "csc")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        for j in range(len(indptr) - 1):
            rows = indices[indptr[j]:indptr[j + 1]]
            vals = data[indptr[j]:indptr[j + 1]]
            if fmt == "csr":
                dense[j, rows] += vals
            else:
                dense[rows, j] += vals
        return dense
    if isinstance(obj, ChumpyStub):
        d = obj.__dict__
        for key in ("x", "a", "_state"):
            if key in d and d[key] is not None:
                return to_numpy(d[key], what)
        raise ValueError("%s: chumpy object without a value (state keys %s)" % (what, sorted(d)))
    if isinstance(obj, (list, tuple)):
        return np.asarray(obj)
    raise ValueError("%s: cannot convert %r to an array" % (what, type(obj)))


# --- torch tensors without torch (legacy and zip storage formats) ---------------------------------

_TORCH_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64,
                         "IntStorage": np.int32, "HalfStorage": np.float16, "ByteStorage": np.uint8,
                         "ShortStorage": np.int16, "CharStorage": np.int8, "BoolStorage": np.bool_}


def _storage_dtype(name):
    if name not in _TORCH_STORAGE_DTYPES:
        raise pickle.UnpicklingError("unsupported torch storage type %s" % name)
    return _TORCH_STORAGE_DTYPES[name]


class _NpTensor(object):
    def __init__(self, array):
        self.array = array

    def numpy(self):
        return self.array


def _rebuild_tensor(storage, offset, size, stride, *rest):
    itemsize = storage.dtype.itemsize
    return _NpTensor(np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                                     strides=tuple(s * itemsize for s in stride)).copy())


class _PersistentUnpickler(_StubUnpickler):
    def __init__(self, f, loader):
        super().__init__(f)
        self._loader = loader

    def persistent_load(self, pid):
        return self._loader(pid)


def _load_storage_from_bytes(b):
    """torch.storage._load_from_bytes without torch: a torch.save of one storage (zip or legacy)."""
    if b[:2] == b"PK":
        zf = zipfile.ZipFile(io.BytesIO(b))
        names = zf.namelist()
        prefix = names[0].split("/")[0]

        def load(pid):  # ('storage', storage_type, key, location, numel)
            dtype = pid[1] if isinstance(pid[1], type) else np.float32
            return np.frombuffer(zf.read("%s/data/%s" % (prefix, pid[2])), dtype=dtype).copy()

        return _PersistentUnpickler(io.BytesIO(zf.read(prefix + "/data.pkl")), load).load()
    f = io.BytesIO(b)
    for _ in range(3):  # magic number, protocol version, system info
        pickle.load(f, encoding="latin1")
    pending = {}

    def load(pid):  # ('storage', storage_type, key, location, numel, view_metadata)
        key = pid[2]
        if key not in pending:
            pending[key] = [pid[1], pid[4], None]
        return (key, pending)

    result = _PersistentUnpickler(f, load).load()
    keys = pickle.load(f, encoding="latin1")
    for key in keys:
        dtype, numel, _ = pending[key]
        (n,) = struct.unpack("<q", f.read(8))
        pending[key][2] = np.frombuffer(f.read(n * np.dtype(dtype).itemsize), dtype=dtype).copy()
    if isinstance(result, tuple) and len(result) == 2 and result[1] is pending:
        return pending[result[0]][2]
    return result


def load_pickle(path):
    with open(path, "rb") as f:
        return _StubUnpickler(f).load()


def load_landmark_embedding(path):
    try:
        d = np.load(path, allow_pickle=True, encoding="latin1")[()]
    except ModuleNotFoundError:  # pickled torch tensors and no torch installed
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                np.lib.format.read_array_header_1_0(f)
            else:
                np.lib.format.read_array_header_2_0(f)
            d = _StubUnpickler(f).load()
        if isinstance(d, np.ndarray):
            d = d[()]
    if not isinstance(d, dict):
        raise ValueError("%s: expected a pickled dict, got %r" % (path, type(d)))
    out = {}
    for k, v in d.items():
        if isinstance(v, _NpTensor):
            v = v.array
        out[k] = to_numpy(v, "%s:%s" % (path, k))
    return out


# --------------------------------------------------------------------------------------------------
# OBJ / PNG readers

def read_obj_uv(path):
    """vt (VT,2) and per-face vt indices (F,3), 0-based, from an OBJ with 'f v/vt[/vn]' faces."""
    vts, vt_faces, v_faces = [], [], []
    with open(path, "r") as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "vt":
                vts.append([float(p[1]), float(p[2])])
            elif p[0] == "f":
                if len(p) != 4:
                    raise ValueError("%s: only triangles are supported (line: %s)" % (path, line.strip()))
                corners = [c.split("/") for c in p[1:]]
                if any(len(c) < 2 or not c[1] for c in corners):
                    raise ValueError("%s: face without texture indices (line: %s)" % (path, line.strip()))
                v_faces.append([int(c[0]) - 1 for c in corners])
                vt_faces.append([int(c[1]) - 1 for c in corners])
    return (np.asarray(vts, np.float32).reshape(-1, 2), np.asarray(vt_faces, np.int64).reshape(-1, 3),
            np.asarray(v_faces, np.int64).reshape(-1, 3))


def read_png(path):
    """8-bit non-interlaced PNG -> uint8 array (H,W,C). Uses PIL when present."""
    try:
        from PIL import Image  # noqa: F401
        return np.asarray(Image.open(path))
    except ImportError:
        pass
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG file" % path)
    pos, idat, plte = 8, b"", None
    w = h = depth = ctype = interlace = None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            plte = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if depth != 8 or interlace:
        raise ValueError("%s: only 8-bit non-interlaced PNGs are supported without PIL" % path)
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * ch
    img = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if ft == 0:
                pr = 0
            elif ft == 1:
                pr = a
            elif ft == 2:
                pr = b
            elif ft == 3:
                pr = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + pr) & 0xFF
        img[y] = cur
        prev = cur
    img = img.reshape(h, w, ch)
    if ctype == 3:
        img = plte[img[:, :, 0]]
    return img


def resize_nearest(a, size):
    """torch F.interpolate(mode='nearest') to size x size: src = floor(dst * in / out)."""
    h, w = a.shape
    ys = np.minimum((np.arange(size) * (h / size)).astype(np.int64), h - 1)
    xs = np.minimum((np.arange(size) * (w / size)).astype(np.int64), w - 1)
    return a[ys][:, xs]


# --------------------------------------------------------------------------------------------------

def convert(flame_pkl, landmark_npy, out, obj=None, fixed_disp=None, mask_png=None, log=print):
    m = load_pickle(flame_pkl)
    if not isinstance(m, dict):
        raise ValueError("%s: expected a pickled dict, got %r" % (flame_pkl, type(m)))
    need = ["v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table"]
    missing = [k for k in need if k not in m]
    if missing:
        raise ValueError("%s: missing entries %s (is this FLAME 2020 generic_model.pkl?)" % (flame_pkl, missing))
    v = to_numpy(m["v_template"], "v_template").astype(np.float32)
    V = v.shape[0]
    faces = to_numpy(m["f"], "f").astype(np.int64)
    sd = to_numpy(m["shapedirs"], "shapedirs").astype(np.float32)
    if sd.shape[:2] != (V, 3) or sd.shape[2] < 400:
        raise ValueError("%s: shapedirs has shape %s, expected [%d,3,400] (300 shape + 100 expression)"
                         % (flame_pkl, sd.shape, V))
    pd = to_numpy(m["posedirs"], "posedirs").astype(np.float32)
    if pd.shape != (V, 3, 36):
        raise ValueError("%s: posedirs has shape %s, expected [%d,3,36]" % (flame_pkl, pd.shape, V))
    J = to_numpy(m["J_regressor"], "J_regressor").astype(np.float32)
    if J.shape != (5, V):
        raise ValueError("%s: J_regressor has shape %s, expected [5,%d]" % (flame_pkl, J.shape, V))
    w = to_numpy(m["weights"], "weights").astype(np.float32)
    kt = to_numpy(m["kintree_table"], "kintree_table").astype(np.int64)
    parents = kt[0].copy()
    parents[0] = -1
    t = {"v_template": v, "faces": faces, "shapedirs": np.ascontiguousarray(sd[:, :, :300]),
         "exprdirs": np.ascontiguousarray(sd[:, :, 300:400]), "posedirs": pd, "J_regressor": J,
         "lbs_weights": w, "parents": parents}

    lm = load_landmark_embedding(landmark_npy)
    spec = {"static_lmk_faces_idx": ((51,), np.int64), "static_lmk_bary_coords": ((51, 3), np.float32),
            "dynamic_lmk_faces_idx": ((79, 17), np.int64),
            "dynamic_lmk_bary_coords": ((79, 17, 3), np.float32),
            "full_lmk_faces_idx": ((68,), np.int64), "full_lmk_bary_coords": ((68, 3), np.float32)}
    for k, (shape, dt) in spec.items():
        if k not in lm:
            raise ValueError("%s: missing entry %s" % (landmark_npy, k))
        a = np.asarray(lm[k]).astype(dt).reshape(shape)  # full_* are stored as (1,68[,3])
        if dt == np.int64 and (a.min() < 0 or a.max() >= faces.shape[0]):
            raise ValueError("%s: %s indexes faces outside [0,%d)" % (landmark_npy, k, faces.shape[0]))
        t[k] = a

    if obj:
        vt, vt_faces, v_faces = read_obj_uv(obj)
        if vt_faces.shape[0] != faces.shape[0]:
            raise ValueError("%s: %d faces, FLAME has %d" % (obj, vt_faces.shape[0], faces.shape[0]))
        if not np.array_equal(v_faces, faces):
            log("warning: %s face vertex indices differ from FLAME's faces; using its UV indices in order" % obj)
        t["uv_coords"], t["uv_faces"] = vt, vt_faces
    if fixed_disp:
        t["fixed_displacement"] = np.load(fixed_disp).astype(np.float32)
    if mask_png:
        img = read_png(mask_png)
        ch0 = img[:, :, 0] if img.ndim == 3 else img
        t["uv_face_eye_mask"] = resize_nearest(ch0.astype(np.float32) / 255.0, 256)
    meta = {"format": "ned.flame", "version": "1", "source": os.path.basename(flame_pkl),
            "landmarks": os.path.basename(landmark_npy)}
    write_safetensors(out, t, meta)
    log("wrote %s: %d vertices, %d faces%s" % (out, V, faces.shape[0], ", with UV data" if obj else ""))
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flame", required=True, help="FLAME 2020 generic_model.pkl")
    ap.add_argument("--deca-data", help="DECA's data/ folder (landmark_embedding.npy, head_template.obj, "
                    "fixed_displacement_256.npy, uv_face_eye_mask.png)")
    ap.add_argument("--landmarks", help="landmark_embedding.npy (default: DECA_DATA/landmark_embedding.npy)")
    ap.add_argument("--obj", help="head_template.obj (default: DECA_DATA/head_template.obj if present)")
    ap.add_argument("--fixed-displacement", help="fixed_displacement_256.npy (default: from DECA_DATA)")
    ap.add_argument("--mask", help="uv_face_eye_mask.png (default: from DECA_DATA)")
    ap.add_argument("--no-uv", action="store_true", help="do not store UV data")
    ap.add_argument("--out", required=True, help="output .safetensors")
    ap.add_argument("-y", "--overwrite", action="store_true")
    a = ap.parse_args(argv)

    def from_data(explicit, name):
        if explicit:
            return explicit
        if a.deca_data and os.path.exists(os.path.join(a.deca_data, name)):
            return os.path.join(a.deca_data, name)
        return None

    lmk = from_data(a.landmarks, "landmark_embedding.npy")
    if not lmk:
        ap.error("need --landmarks or --deca-data with landmark_embedding.npy")
    for p in [a.flame, lmk]:
        if not os.path.isfile(p):
            ap.error("file not found: %s" % p)
    if os.path.exists(a.out) and not a.overwrite:
        ap.error("%s exists (use -y to overwrite)" % a.out)
    obj = fd = mask = None
    if not a.no_uv:
        obj = from_data(a.obj, "head_template.obj")
        fd = from_data(a.fixed_displacement, "fixed_displacement_256.npy")
        mask = from_data(a.mask, "uv_face_eye_mask.png")
    try:
        convert(a.flame, lmk, a.out, obj, fd, mask)
    except (ValueError, pickle.UnpicklingError, OSError) as e:
        print("convert_flame: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
