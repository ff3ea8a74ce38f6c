#!/usr/bin/env python3
"""Write tiny synthetic stand-ins for FLAME's generic_model.pkl and DECA's data/ files into OUTDIR.

The pickle holds objects of stand-in classes registered as chumpy.ch.Ch and scipy.sparse.csc.csc_matrix
(so the converter's stub unpickler is exercised exactly as with the real file; neither package is
needed). Values follow closed formulas that tests/unit/recon/test_convert.cpp checks:
  V = 40, F = 30
  v_template[i,k] = 0.001*(3i+k);  faces[f] = (f, f+1, f+2) mod V
  shapedirs[i,k,l] = 1e-4*((i+k+l)%7) for l < 400;  posedirs[i,k,p] = 1e-5*((3i+k+p)%5)
  J_regressor[j, 2j] = J_regressor[j, 2j+1] = 0.5 (sparse csc);  weights[i, i%5] = 1
  static_lmk_faces_idx[l] = l%F, bary (0.2,0.3,0.5); dynamic[b,l] = (17b+l)%F, bary (0.6,0.3,0.1);
  full (1,68): (2l)%F, bary (0.1,0.1,0.8)
  obj: vt[j] = (j/43, 1-j/43) for j < 43, face f uses vt index faces[f]+(f%3)
  fixed_displacement_256[y,x] = 1e-5*(x+y) (float64)
  uv_face_eye_mask.png: 64x64 RGBA, channel 0 = 255 where x < 32 (rows use PNG filters 0..4)
"""
import os
import pickle
import struct
import sys
import types
import zlib

import numpy as np

V, F = 40, 30


def make_stub_modules():
    ch_mod = types.ModuleType("chumpy.ch")
    chumpy = types.ModuleType("chumpy")

    class Ch(object):
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

        def __getstate__(self):
            return {"x": self.x, "_dirty_vars": self._dirty_vars}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch_mod.Ch = Ch
    chumpy.ch = ch_mod
    sp = types.ModuleType("scipy.sparse.csc")

    class csc_matrix(object):
        def __init__(self, dense):
            rows, cols = dense.shape
            data, indices, indptr = [], [], [0]
            for j in range(cols):
                for i in range(rows):
                    if dense[i, j] != 0:
                        data.append(dense[i, j])
                        indices.append(i)
                indptr.append(len(data))
            self.data = np.asarray(data)
            self.indices = np.asarray(indices, np.int32)
            self.indptr = np.asarray(indptr, np.int32)
            self._shape = (rows, cols)
            self.maxprint = 50

    csc_matrix.__module__, csc_matrix.__qualname__ = "scipy.sparse.csc", "csc_matrix"
    sp.csc_matrix = csc_matrix
    scipy, sparse = types.ModuleType("scipy"), types.ModuleType("scipy.sparse")
    scipy.sparse, sparse.csc = sparse, sp
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch_mod, "scipy": scipy, "scipy.sparse": sparse,
                        "scipy.sparse.csc": sp})
    return Ch, csc_matrix


def write_png(path, img):
    h, w, c = img.shape
    raw = b""
    prev = np.zeros(w * c, np.int32)
    for y in range(h):
        cur = img[y].reshape(-1).astype(np.int32)
        ft = y % 5
        a = np.concatenate([np.zeros(c, np.int32), cur[:-c]])
        b = prev
        cc = np.concatenate([np.zeros(c, np.int32), prev[:-c]])
        if ft == 0:
            pr = np.zeros_like(cur)
        elif ft == 1:
            pr = a
        elif ft == 2:
            pr = b
        elif ft == 3:
            pr = (a + b) // 2
        else:
            pa, pb, pc = np.abs(b - cc), np.abs(a - cc), np.abs(a + b - 2 * cc)
            pr = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, cc))
        raw += bytes([ft]) + ((cur - pr) & 0xFF).astype(np.uint8).tobytes()
        prev = cur

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ctype = {1: 0, 3: 2, 4: 6}[c]
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main(out):
    os.makedirs(out, exist_ok=True)
    Ch, csc = make_stub_modules()
    i, k = np.meshgrid(np.arange(V), np.arange(3), indexing="ij")
    v = 0.001 * (3 * i + k)
    faces = np.stack([np.arange(F), np.arange(F) + 1, np.arange(F) + 2], 1) % V
    ii, kk, ll = np.meshgrid(np.arange(V), np.arange(3), np.arange(400), indexing="ij")
    sd = 1e-4 * ((ii + kk + ll) % 7)
    ii, kk, pp = np.meshgrid(np.arange(V), np.arange(3), np.arange(36), indexing="ij")
    pd = 1e-5 * ((3 * ii + kk + pp) % 5)
    J = np.zeros((5, V))
    for j in range(5):
        J[j, 2 * j] = J[j, 2 * j + 1] = 0.5
    w = np.zeros((V, 5))
    w[np.arange(V), np.arange(V) % 5] = 1
    kt = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.int64)
    model = {"v_template": Ch(v), "f": faces.astype(np.uint32), "shapedirs": Ch(sd), "posedirs": pd,
             "J_regressor": csc(J), "weights": Ch(w), "kintree_table": kt, "bs_style": "lbs", "bs_type": "lrotmin"}
    with open(os.path.join(out, "generic_model.pkl"), "wb") as f:
        pickle.dump(model, f, protocol=2)

    lm = {"static_lmk_faces_idx": np.arange(51) % F,
          "static_lmk_bary_coords": np.tile([0.2, 0.3, 0.5], (51, 1)),
          "dynamic_lmk_faces_idx": (17 * np.arange(79)[:, None] + np.arange(17)[None]) % F,
          "dynamic_lmk_bary_coords": np.tile(np.float32([0.6, 0.3, 0.1]), (79, 17, 1)),
          "full_lmk_faces_idx": ((2 * np.arange(68)) % F)[None].astype(np.int64),
          "full_lmk_bary_coords": np.tile(np.float32([0.1, 0.1, 0.8]), (1, 68, 1))}
    np.save(os.path.join(out, "landmark_embedding.npy"), np.array(lm, dtype=object), allow_pickle=True)

    nvt = V + 3
    with open(os.path.join(out, "head_template.obj"), "w") as f:
        for p in v:
            f.write("v %f %f %f\n" % tuple(p))
        for j in range(nvt):
            f.write("vt %.6f %.6f\n" % (j / nvt, 1 - j / nvt))
        for fi, tri in enumerate(faces):
            f.write("f " + " ".join("%d/%d" % (a + 1, a + fi % 3 + 1) for a in tri) + "\n")
    y, x = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    np.save(os.path.join(out, "fixed_displacement_256.npy"), 1e-5 * (x + y).astype(np.float64))
    img = np.zeros((64, 64, 4), np.uint8)
    img[:, :32, 0] = 255
    img[:, :, 1] = np.arange(64)[None, :] * 3
    img[:, :, 3] = 255
    write_png(os.path.join(out, "uv_face_eye_mask.png"), img)


if __name__ == "__main__":
    main(sys.argv[1])
