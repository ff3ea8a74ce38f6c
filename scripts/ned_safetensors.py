"""Minimal safetensors writer shared by the converters in scripts/ (no safetensors package needed).

write_raw() needs nothing beyond the standard library; write_numpy() takes numpy arrays.
Files are written atomically (temporary name in the same folder, then rename), tensors in name order,
with a __metadata__ object of strings (ned checks its `format` and `version`).
"""
import json
import os
import struct

_DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def write_raw(path, entries, metadata):
    """entries: iterable of (name, dtype, shape, little-endian bytes), dtype in safetensors spelling."""
    entries = sorted(entries, key=lambda e: e[0])
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    offset = 0
    for name, dtype, shape, data in entries:
        n = 1
        for d in shape:
            n *= int(d)
        if dtype not in _DTYPE_SIZES or len(data) != n * _DTYPE_SIZES[dtype]:
            raise ValueError("%s: %d bytes do not hold %s%s" % (name, len(data), dtype, list(shape)))
        header[name] = {"dtype": dtype, "shape": [int(d) for d in shape],
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)  # tensor data starts 8-byte aligned
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for _, _, _, data in entries:
                f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_numpy(path, tensors, metadata):
    """tensors: {name: numpy array} of a supported dtype (float32/64, int64/32/16/8, uint8, bool)."""
    import numpy as np
    names = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
             np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
             np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}
    entries = []
    for name, a in tensors.items():
        a = np.asarray(a)
        shape = a.shape  # np.ascontiguousarray turns a 0-d array into shape (1,): keep 0-d tensors 0-d
        a = np.ascontiguousarray(a).reshape(shape)
        if a.dtype not in names:
            raise ValueError("tensor %s has unsupported dtype %s" % (name, a.dtype))
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        entries.append((name, names[a.dtype], shape, a.tobytes()))
    write_raw(path, entries, metadata)
