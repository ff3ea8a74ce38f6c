#!/usr/bin/env python3
"""Convert NED's released manipulator checkpoint (.pth, torch.save of
{'generator': sd, 'mapping_network': sd, 'style_encoder': sd[, 'discriminator': sd]}) into ned's
safetensors checkpoint: tensors "<net>.<NED state-dict name>", __metadata__ format "ned.manipulator",
version "1".

    python3 scripts/convert_ned_manipulator.py manipulator_checkpoints/02_nets_finetuned.pth manipulator.safetensors

Needs torch only to read the .pth. The safetensors writer is plain Python (struct + json; numpy is used
when present for speed). Self-test modes used by ned's unit tests:
    --random-layout OUT [--sums S.json] [--seed N]   random tensors with NED's names/shapes, pure Python
    --make-random-pth OUT.pth --reference-output R   a randomly initialised NED-layout .pth (needs torch)
"""
import argparse
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ned_safetensors  # noqa: E402  (scripts/ned_safetensors.py)

EMOTIONS = "neutral,angry,disgusted,fear,happy,sad,surprised"
NETS = ("generator", "style_encoder", "mapping_network", "discriminator")


def ned_layout():
    """NED's state-dict names and shapes (manipulator/models/networks.py), in state-dict order."""
    def lstm(prefix, inp, hid):
        out = []
        for layer in range(2):
            for sfx in ("", "_reverse"):
                i = inp if layer == 0 else 2 * hid
                out += [(f"{prefix}LSTM.weight_ih_l{layer}{sfx}", [4 * hid, i]),
                        (f"{prefix}LSTM.weight_hh_l{layer}{sfx}", [4 * hid, hid]),
                        (f"{prefix}LSTM.bias_ih_l{layer}{sfx}", [4 * hid]),
                        (f"{prefix}LSTM.bias_hh_l{layer}{sfx}", [4 * hid])]
        return out

    def lin(name, o, i):
        return [(name + ".weight", [o, i]), (name + ".bias", [o])]

    g = lin("generator.seq1.0", 512, 67) + lin("generator.seq1.2", 512, 512) + lstm("generator.", 512, 512) \
        + lin("generator.seq2.0", 1024, 1024) + lin("generator.seq2.2", 1024, 1024) + lin("generator.seq2.4", 51, 1024)

    def enc(p, out_dim):
        return lin(p + "seq1.0", 512, 51) + lin(p + "seq1.2", 256, 512) + lstm(p, 256, 128) \
            + lin(p + "seq2.0", 128, 256) + lin(p + "seq2.2", 64, 128) + lin(p + "seq2.4", out_dim, 64)

    m = lin("mapping_network.shared.0", 64, 4) + lin("mapping_network.shared.2", 64, 64) \
        + lin("mapping_network.shared.4", 64, 64)
    for k in range(7):
        m += lin(f"mapping_network.unshared.{k}.0", 64, 64) + lin(f"mapping_network.unshared.{k}.2", 16, 64)
    return g + enc("style_encoder.", 16) + m + enc("discriminator.", 7)


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, shape, float32 little-endian bytes). Written atomically."""
    ned_safetensors.write_raw(path, [(n, "F32", shape, data) for n, shape, data in tensors], metadata)


def tensor_bytes(t):
    t = t.detach().to("cpu").float().contiguous()
    try:
        import numpy  # noqa: F401
        return t.numpy().astype("<f4").tobytes()
    except ImportError:
        v = t.flatten().tolist()
        return struct.pack(f"<{len(v)}f", *v)


def convert(pth, out):
    import torch
    ckpt = torch.load(pth, map_location="cpu")
    if not isinstance(ckpt, dict) or "generator" not in ckpt:
        sys.exit(f"{pth}: expected a dict with 'generator', 'style_encoder', 'mapping_network' state dicts")
    layout = dict(ned_layout())
    tensors = []
    for net in NETS:
        if net not in ckpt:
            if net == "discriminator":
                continue
            sys.exit(f"{pth}: no '{net}' state dict")
        for k, v in ckpt[net].items():
            k = k[len("module."):] if k.startswith("module.") else k
            name = f"{net}.{k}"
            if name not in layout:
                sys.exit(f"{pth}: unexpected tensor {name} (not in NED's manipulator)")
            if list(v.shape) != layout[name]:
                sys.exit(f"{pth}: {name} has shape {list(v.shape)}, expected {layout[name]}")
            tensors.append((name, list(v.shape), tensor_bytes(v)))
    write_safetensors(out, tensors, {"format": "ned.manipulator", "version": "1", "emotions": EMOTIONS,
                                     "converted_from": os.path.basename(pth)})
    print(f"wrote {out} ({len(tensors)} tensors)")


def random_layout(out, sums_path, seed):
    rng = random.Random(seed)
    tensors, sums = [], {}
    for name, shape in ned_layout():
        n = 1
        for d in shape:
            n *= d
        vals = [rng.uniform(-0.05, 0.05) for _ in range(n)]
        data = struct.pack(f"<{n}f", *vals)
        tensors.append((name, shape, data))
        sums[name] = sum(struct.unpack(f"<{n}f", data))
    write_safetensors(out, tensors, {"format": "ned.manipulator", "version": "1", "emotions": EMOTIONS,
                                     "converted_from": "random-layout"})
    if sums_path:
        with open(sums_path, "w") as f:
            json.dump(sums, f)


def make_random_pth(out, ref_out):
    """NED's networks re-declared with torch.nn (same definitions as manipulator/models/networks.py)."""
    import torch
    import torch.nn as nn

    class Mapping(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                        nn.Linear(64, 64), nn.ReLU())
            self.unshared = nn.ModuleList([nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16))
                                           for _ in range(7)])

        def forward(self, z, y):
            h = self.shared(z)
            out = torch.stack([l(h) for l in self.unshared], dim=1)
            return out[torch.arange(y.size(0)), y]

    class Gen(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq1 = nn.Sequential(nn.Linear(67, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU())
            self.LSTM = nn.LSTM(512, 512, 2, batch_first=True, bidirectional=True)
            self.seq2 = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                      nn.Linear(1024, 51))

        def forward(self, x, s):
            s = s.view(s.size(0), 1, s.size(1)).repeat(1, x.size(1), 1)
            out, _ = self.LSTM(self.seq1(torch.cat([x, s], dim=2)))
            return self.seq2(out)

    class Enc(nn.Module):
        def __init__(self, out_dim):
            super().__init__()
            self.seq1 = nn.Sequential(nn.Linear(51, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
            self.LSTM = nn.LSTM(256, 128, 2, batch_first=True, bidirectional=True)
            self.seq2 = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                      nn.Linear(64, out_dim))

        def forward(self, x):
            h, _ = self.LSTM(self.seq1(x))
            return torch.mean(self.seq2(h), 1)

    torch.manual_seed(0)
    g, e, m, d = Gen(), Enc(16), Mapping(), Enc(7)
    torch.save({"generator": g.state_dict(), "mapping_network": m.state_dict(), "style_encoder": e.state_dict(),
                "discriminator": d.state_dict()}, out)
    with torch.no_grad():
        x = torch.randn(3, 10, 51)
        z = torch.randn(3, 4)
        y = torch.tensor([0, 4, 6])
        gout = g(x, m(z, y))
        eout = e(x)
    write_safetensors(ref_out, [("x", list(x.shape), tensor_bytes(x)), ("z", list(z.shape), tensor_bytes(z)),
                                ("y", [3], tensor_bytes(y.float())), ("g", list(gout.shape), tensor_bytes(gout)),
                                ("e", list(eout.shape), tensor_bytes(eout))],
                      {"format": "ned.test", "version": "1"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth", nargs="?", help="NED manipulator checkpoint (.pth)")
    ap.add_argument("out", nargs="?", help="output .safetensors")
    ap.add_argument("--random-layout", metavar="OUT")
    ap.add_argument("--sums", metavar="JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--make-random-pth", metavar="OUT")
    ap.add_argument("--reference-output", metavar="OUT")
    a = ap.parse_args()
    if a.random_layout:
        random_layout(a.random_layout, a.sums, a.seed)
    elif a.make_random_pth:
        make_random_pth(a.make_random_pth, a.reference_output)
    elif a.pth and a.out:
        convert(a.pth, a.out)
    else:
        ap.error("give PTH OUT (or a self-test mode)")


if __name__ == "__main__":
    main()
