#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (small valid files plus a few near misses) into corpus/."""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))


def st_bytes(meta, tensors):
    """tensors: {name: (dtype, shape, raw bytes)}"""
    header, data = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(n, v=0.5):
    return struct.pack("<%df" % n, *([v] * n))


def write(kind, name, blob):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


T = 3
track_meta = {"format": "ned.track", "version": "1", "source": "/x/in.mp4", "fps": "25/1", "width": "64",
              "height": "64", "crop_size": "32", "frame_count": str(T), "has_analysis": "1"}
track = {"boxes": ("F32", [T, 4], f32(T * 4, 16.0)), "valid": ("U8", [T], b"\x01" * T),
         "detected": ("U8", [T], b"\x01" * T), "crop_to_frame": ("F32", [T, 2, 3], f32(T * 6, 1.0)),
         "landmarks": ("F32", [T, 68, 2], f32(T * 136, 10.0)), "aligned_landmarks": ("F32", [T, 68, 2], f32(T * 136)),
         "align": ("F32", [T, 2, 3], f32(T * 6, 1.0)), "pupils": ("F32", [T, 2, 2], f32(T * 4, 12.0))}
write("track", "analysed.safetensors", st_bytes(track_meta, track))
plain = {k: v for k, v in track.items() if k in ("boxes", "valid", "detected", "crop_to_frame")}
write("track", "plain.safetensors", st_bytes(dict(track_meta, has_analysis="0"), plain))
write("track", "wrong_format.safetensors", st_bytes(dict(track_meta, format="ned.reconstruction"), plain))

rec_meta = {"format": "ned.reconstruction", "version": "1", "source": "/x/in.mp4", "fps": "25/1",
            "frame_count": str(T), "method": "fit"}
rec = {"valid": ("U8", [T], b"\x01\x00\x01"), "shape": ("F32", [T, 100], f32(T * 100)),
       "exp": ("F32", [T, 50], f32(T * 50)), "pose": ("F32", [T, 6], f32(T * 6)), "cam": ("F32", [T, 3], f32(T * 3, 8.0)),
       "tform": ("F32", [T, 3, 3], f32(T * 9)), "light": ("F32", [T, 9, 3], f32(T * 27))}
write("reconstruction", "full.safetensors", st_bytes(rec_meta, rec))
write("reconstruction", "minimal.safetensors", st_bytes(rec_meta, {"valid": rec["valid"], "exp": rec["exp"]}))

for kind in ("safetensors",):
    write(kind, "track.safetensors", st_bytes(track_meta, plain))
    write(kind, "reconstruction.safetensors", st_bytes(rec_meta, rec))
    write(kind, "types.safetensors", st_bytes({"format": "ned.test", "version": "1"}, {
        "a": ("F64", [2], struct.pack("<2d", 1, 2)), "b": ("I64", [1], struct.pack("<q", -1)),
        "c": ("BF16", [2], b"\x80\x3f\x00\x40"), "d": ("BOOL", [3], b"\x01\x00\x01"), "e": ("F32", [0, 4], b""),
        "s": ("I32", [], struct.pack("<i", 7))}))
    write(kind, "no_metadata.safetensors", st_bytes(None, {"x": ("U8", [4], b"abcd")}))
    write(kind, "empty_header.safetensors", st_bytes(None, {}))

# PNG seeds for fuzz_png: the colour types and depths libpng transforms (gray, RGB, palette + tRNS,
# gray + alpha 16-bit, RGBA, 1-bit gray, Adam7-interlaced RGB), each a few pixels.
import zlib


def png_bytes(w, h, color_type, depth, rows, interlace=0, extra=b""):
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def plte_trns():
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)
    return chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])) + chunk(b"tRNS", bytes([255, 128]))


W = H = 4
write("png", "gray8.png", png_bytes(W, H, 0, 8, [bytes((x * 60 + y) % 256 for x in range(W)) for y in range(H)]))
write("png", "rgb8.png", png_bytes(W, H, 2, 8, [bytes((x * 40 + y * 7 + c) % 256 for x in range(W) for c in range(3)) for y in range(H)]))
write("png", "palette.png", png_bytes(W, H, 3, 8, [bytes((x + y) % 3 for x in range(W)) for y in range(H)], extra=plte_trns()))
write("png", "gray_alpha16.png", png_bytes(W, H, 4, 16, [b"".join(struct.pack(">HH", x * 9000, 65535 - y) for x in range(W)) for y in range(H)]))
write("png", "rgba8.png", png_bytes(W, H, 6, 8, [bytes((x * 50 + c * 20) % 256 for x in range(W) for c in range(4)) for y in range(H)]))
write("png", "gray1.png", png_bytes(8, 2, 0, 1, [b"\xa5", b"\x5a"]))
# Adam7: the 7 passes of an 8x8 RGB image, each pass's rows with filter byte 0.
img = [[((x * 31 + y * 17) % 256, (x * 5) % 256, (y * 9) % 256) for x in range(8)] for y in range(8)]
passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
rows = []
for x0, y0, dx, dy in passes:
    for y in range(y0, 8, dy):
        rows.append(bytes(v for x in range(x0, 8, dx) for v in img[y][x]))
write("png", "adam7_rgb8.png", png_bytes(8, 8, 2, 8, rows, interlace=1))

# Stage records for fuzz_stage_record: the record `ned translate` writes, with the key of the inputs the
# target passes ({"frames": 3, "model": "/x/ned.safetensors"}), and a few near misses.
def fnv1a(s):
    h = 14695981039346656037
    for c in s.encode():
        h ^= c
        h = (h * 1099511628211) & 0xffffffffffffffff
    return "%016x" % h


inputs = json.dumps({"frames": 3, "model": "/x/ned.safetensors"}, separators=(",", ":"))
key = fnv1a("render\n" + inputs)
rec = {"format": "ned.stage", "version": 1, "stage": "render", "key": key, "inputs": json.loads(inputs),
       "wall_s": 1.5, "frames": 3, "ned_version": "0.1.0"}
write("stage_record", "match.json", json.dumps(rec, indent=2).encode())
write("stage_record", "frames_string.json", json.dumps(dict(rec, frames="3")).encode())
write("stage_record", "other_key.json", json.dumps(dict(rec, key="0" * 16)).encode())
write("stage_record", "array.json", b"[1,2,3]")

# conditioning.json for fuzz_conditioning: what `ned render-inputs` writes, and near misses.
cond = {"format": "ned.conditioning", "version": 1, "crop_size": 256, "space": "aligned", "frames": [0, 1, 2, 5],
        "shape": "coarse", "shape_note": "no DECA", "eyes": "track", "reconstruction": "/w/reconstruction.safetensors",
        "method": "fit", "flame": "/m/flame.safetensors", "deca": "", "crop_images": False}
write("conditioning", "manifest.json", json.dumps(cond, indent=2).encode())
write("conditioning", "frames_strings.json", json.dumps(dict(cond, frames=["0", 1])).encode())
write("conditioning", "wrong_format.json", json.dumps(dict(cond, format="ned.stage")).encode())
write("conditioning", "huge_frame.json", json.dumps(dict(cond, frames=[2 ** 63 - 1, -5])).encode())
