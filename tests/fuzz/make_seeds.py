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
