#!/usr/bin/env python3
"""Convert NED's renderer checkpoints (renderer/checkpoints/<name>/<epoch>_net_G.pth, plus _net_D.pth and
_net_Dm.pth when present: the meta-renderer and the per-actor renderers) into one ned safetensors file:
__metadata__ format "ned.renderer", version "1"; tensors "generator." / "discriminator." /
"mouth_discriminator." + NED's state-dict names. Dropped: NED's duplicated `resnetblock_sequential.*`
copies of `conv_block.*` (checked to be identical) and the InstanceNorm running statistics (unused: NED's
renderer always normalises with per-instance statistics).

    python3 scripts/convert_ned_renderer.py checkpoints/meta-renderer/15_net_G.pth models/meta_renderer.safetensors
    python3 scripts/convert_ned_renderer.py 20_net_G.pth actor.safetensors --no-discriminators

The _net_D.pth and _net_Dm.pth files next to the _net_G.pth are picked up automatically (or give --D/--Dm).
Needs torch (to read the .pth files) and numpy.

Self-test mode used by ned's unit tests (needs torch):
    --make-random DIR [--ngf N] [--n-blocks N] [--ndf N]
        writes DIR/latest_net_G.pth, _net_D.pth, _net_Dm.pth of randomly initialised networks declared
        with NED's layout, and DIR/reference.safetensors (inputs and outputs of the generator, in NED's
        30-channel input convention).
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ned_safetensors  # noqa: E402  (scripts/ned_safetensors.py)

FORMAT, VERSION = "ned.renderer", "1"
_STATS = ("running_mean", "running_var", "num_batches_tracked")
_G_KEY = re.compile(r"^(model_down_seg|model_down_img|model_res_img|model_up_img|model_final_img)\.\d+\."
                    r"(conv_block\.\d+\.)?(weight|bias)$")
_D_KEY = re.compile(r"^scale\d+_layer\d+\.0\.(weight|bias)$")


def _load_state_dict(path):
    import torch
    sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        sys.exit(f"{path}: expected a state dict (torch.save of net.state_dict())")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}


def clean_state_dict(sd, key_re, what, path):
    """Drop running statistics and resnetblock_sequential duplicates; check every other name."""
    import torch
    out = {}
    for k, v in sd.items():
        if k.rsplit(".", 1)[-1] in _STATS:
            continue
        if ".resnetblock_sequential." in k:
            twin = k.replace(".resnetblock_sequential.", ".conv_block.")
            if twin not in sd:
                sys.exit(f"{path}: {k} has no conv_block twin {twin}")
            if not torch.equal(sd[twin], v):
                sys.exit(f"{path}: {k} differs from {twin} (NED stores the same tensor twice)")
            continue
        if not key_re.match(k):
            sys.exit(f"{path}: unexpected tensor '{k}' for NED's {what}")
        out[k] = v.detach().to("cpu").float().contiguous()
    if not out:
        sys.exit(f"{path}: no {what} tensors found")
    return out


def convert(g_path, out, d_path=None, dm_path=None, discriminators=True):
    import numpy as np
    tensors = {}
    g = clean_state_dict(_load_state_dict(g_path), _G_KEY, "generator", g_path)
    if "model_down_seg.1.weight" not in g or "model_down_img.1.weight" not in g:
        sys.exit(f"{g_path}: not NED's renderer generator (no model_down_seg.1.weight / model_down_img.1.weight)")
    for k, v in g.items():
        tensors["generator." + k] = v.numpy().astype("<f4")
    if discriminators:
        base = g_path[:-len("_net_G.pth")] if g_path.endswith("_net_G.pth") else None
        if d_path is None and base and os.path.exists(base + "_net_D.pth"):
            d_path = base + "_net_D.pth"
        if dm_path is None and base and os.path.exists(base + "_net_Dm.pth"):
            dm_path = base + "_net_Dm.pth"
        for prefix, p in (("discriminator.", d_path), ("mouth_discriminator.", dm_path)):
            if p is None:
                continue
            for k, v in clean_state_dict(_load_state_dict(p), _D_KEY, "discriminator", p).items():
                tensors[prefix + k] = v.numpy().astype("<f4")
    w = tensors["generator.model_down_seg.1.weight"]
    meta = {"format": FORMAT, "version": VERSION, "converted_from": os.path.basename(g_path), "ngf": str(w.shape[0])}
    ned_safetensors.write_numpy(out, {k: np.ascontiguousarray(v) for k, v in tensors.items()}, meta)
    nets = sorted({k.split(".", 1)[0] for k in tensors})
    print(f"wrote {out}: {len(tensors)} tensors ({', '.join(nets)}), ngf {w.shape[0]}")


# ----------------------------------------------------------------------------------------------------------
# Self-test: NED's layout re-declared with torch.nn (renderer/models/networks.py), randomly initialised.

def make_random(out_dir, ngf, n_blocks, ndf):
    import numpy as np
    import torch
    import torch.nn as nn

    def norm(c):
        return nn.InstanceNorm2d(c, affine=False, track_running_stats=True)

    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), nn.ReLU(True),
                      nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim)]
            self.resnetblock_sequential = nn.Sequential(*layers)
            self.conv_block = self.resnetblock_sequential  # NED registers the same Sequential twice

        def forward(self, x):
            return x + self.conv_block(x)

    class Gen(nn.Module):
        def __init__(self, n_down=3):
            super().__init__()

            def enc(cin):
                m = [nn.ReflectionPad2d(3), nn.Conv2d(cin, ngf, 7), norm(ngf), nn.ReLU(True)]
                for i in range(n_down):
                    c = ngf * 2 ** i
                    m += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), norm(2 * c), nn.ReLU(True)]
                m += [Block(ngf * 2 ** n_down) for _ in range(n_blocks - n_blocks // 2)]
                return nn.Sequential(*m)

            self.model_down_seg = enc(27)
            self.model_down_img = enc(6)
            self.model_res_img = nn.Sequential(*[Block(ngf * 2 ** n_down) for _ in range(n_blocks // 2)])
            up = []
            for i in range(n_down):
                c = ngf * 2 ** (n_down - i)
                up += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1), norm(c // 2),
                       nn.ReLU(True)]
            self.model_up_img = nn.Sequential(*up)
            self.model_final_img = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())

        def forward(self, inp, prev):  # NED's convention: 3 frames x 10 channels, mask = last channel
            mask = inp[:, -1:, :, :]
            inp = torch.cat([ch[:, :-1] for ch in torch.chunk(inp, 3, dim=1)], 1)
            x = self.model_down_seg(inp) + self.model_down_img(prev)
            y = self.model_final_img(self.model_up_img(self.model_res_img(x)))
            return y * mask - (1 - mask)

    class Disc(nn.Module):
        def __init__(self, num_d=2, n_layers=3):
            super().__init__()
            for i in range(num_d):
                nf = min(64, ndf * 2 ** (num_d - 1 - i))
                seq = [[nn.Conv2d(12, nf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]]
                for _ in range(1, n_layers):
                    p, nf = nf, min(nf * 2, 512)
                    seq += [[nn.Conv2d(p, nf, 4, stride=2, padding=2), norm(nf), nn.LeakyReLU(0.2, True)]]
                p, nf = nf, min(nf * 2, 512)
                seq += [[nn.Conv2d(p, nf, 4, stride=1, padding=2), norm(nf), nn.LeakyReLU(0.2, True)]]
                seq += [[nn.Conv2d(nf, 1, 4, stride=1, padding=2)]]
                for j, s in enumerate(seq):
                    setattr(self, f"scale{i}_layer{j}", nn.Sequential(*s))

    torch.manual_seed(0)
    g, d, dm = Gen(), Disc(), Disc()
    os.makedirs(out_dir, exist_ok=True)
    torch.save(g.state_dict(), os.path.join(out_dir, "latest_net_G.pth"))
    torch.save(d.state_dict(), os.path.join(out_dir, "latest_net_D.pth"))
    torch.save(dm.state_dict(), os.path.join(out_dir, "latest_net_Dm.pth"))
    # Reference output: the train-mode forward NED runs (instance statistics), previous outputs not constant
    # (PyTorch's InstanceNorm2d returns rounding noise for constant channels; ned returns 0 there).
    inp = torch.rand(1, 30, 32, 32)
    inp[:, -1] = (inp[:, -1] > 0.3).float()
    prev = torch.rand(1, 6, 32, 32) * 2 - 1
    with torch.no_grad():
        y = g(inp, prev)
    ned_safetensors.write_numpy(os.path.join(out_dir, "reference.safetensors"),
                                {"input": inp.numpy(), "prev": prev.numpy(), "output": y.numpy(),
                                 "g_sum": np.array([sum(float(v.double().sum()) for k, v in g.state_dict().items()
                                                        if k.endswith(("weight", "bias")) and "resnetblock_sequential" not in k)])},
                                {"format": "ned.test", "version": "1"})
    print(f"wrote random NED-layout renderer to {out_dir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("G", nargs="?", help="NED generator checkpoint (<epoch>_net_G.pth)")
    ap.add_argument("out", nargs="?", help="output .safetensors")
    ap.add_argument("--D", help="image discriminator (default: <epoch>_net_D.pth next to G, when present)")
    ap.add_argument("--Dm", help="mouth discriminator (default: <epoch>_net_Dm.pth next to G, when present)")
    ap.add_argument("--no-discriminators", action="store_true", help="store the generator only")
    ap.add_argument("--make-random", metavar="DIR")
    ap.add_argument("--ngf", type=int, default=4)
    ap.add_argument("--n-blocks", type=int, default=3)
    ap.add_argument("--ndf", type=int, default=4)
    a = ap.parse_args()
    if a.make_random:
        make_random(a.make_random, a.ngf, a.n_blocks, a.ndf)
    elif a.G and a.out:
        convert(a.G, a.out, a.D, a.Dm, not a.no_discriminators)
    else:
        ap.error("give G.pth OUT (or --make-random DIR)")


if __name__ == "__main__":
    main()
