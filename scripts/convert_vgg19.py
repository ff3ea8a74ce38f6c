#!/usr/bin/env python3
"""Convert torchvision's ImageNet VGG19 weights (the state dict torchvision downloads as vgg19-dcbb9e9d.pth,
or torch.save(torchvision.models.vgg19(pretrained=True).state_dict())) into ned's safetensors file for the
renderer's perceptual loss: __metadata__ format "ned.vgg19", version "1"; tensors "features.N.weight" /
"features.N.bias" of the 13 convolutions that NED's VGGLoss uses (features[0:30], up to relu5_1:
N = 0 2 5 7 10 12 14 16 19 21 23 25 28). The classifier and the last three convolutions are not needed.
ned never downloads anything: bring the .pth yourself.

    python3 scripts/convert_vgg19.py vgg19-dcbb9e9d.pth models/vgg19.safetensors

Self-test mode (used by ned's unit tests; needs torch only):
    --make-random OUT.pth   a random state dict with torchvision's VGG19 names and shapes
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ned_safetensors  # noqa: E402  (scripts/ned_safetensors.py)

# torchvision vgg19 "E" configuration: conv widths, "M" = max pool
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
_LAST_USED = 28  # NED: slices end at features[29] (relu5_1)


def layout():
    """[(feature index, in channels, out channels)] of every convolution of torchvision's VGG19."""
    out, idx, cin = [], 0, 3
    for v in _CFG:
        if v == "M":
            idx += 1
        else:
            out.append((idx, cin, v))
            idx += 2  # conv, relu
            cin = v
    return out


def convert(pth, out):
    import numpy as np
    import torch
    sd = torch.load(pth, map_location="cpu")
    if isinstance(sd, torch.nn.Module):
        sd = sd.state_dict()
    if not isinstance(sd, dict):
        sys.exit(f"{pth}: expected torchvision's VGG19 state dict")
    tensors = {}
    for idx, cin, cout in layout():
        if idx > _LAST_USED:
            continue
        for kind, shape in (("weight", [cout, cin, 3, 3]), ("bias", [cout])):
            name = f"features.{idx}.{kind}"
            if name not in sd:
                sys.exit(f"{pth}: missing {name}: not torchvision's VGG19 (vgg19, without batch norm)")
            t = sd[name]
            if list(t.shape) != shape:
                sys.exit(f"{pth}: {name} has shape {list(t.shape)}, expected {shape}")
            tensors[name] = t.detach().float().contiguous().numpy().astype("<f4")
    ned_safetensors.write_numpy(out, {k: np.ascontiguousarray(v) for k, v in tensors.items()},
                                {"format": "ned.vgg19", "version": "1", "converted_from": os.path.basename(pth),
                                 "layers": "features[0:30] (relu1_1 .. relu5_1)"})
    print(f"wrote {out} ({len(tensors)} tensors)")


def make_random(out):
    import torch
    torch.manual_seed(0)
    sd = {}
    for idx, cin, cout in layout():
        sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3) * 0.05
        sd[f"features.{idx}.bias"] = torch.randn(cout) * 0.05
    for i, (o, n) in ((0, (4096, 25088)), (3, (4096, 4096)), (6, (1000, 4096))):
        sd[f"classifier.{i}.weight"] = torch.zeros(o, 1)  # shapes do not matter: the converter drops them
        sd[f"classifier.{i}.bias"] = torch.zeros(o)
    torch.save(sd, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth", nargs="?", help="torchvision VGG19 state dict (.pth)")
    ap.add_argument("out", nargs="?", help="output .safetensors")
    ap.add_argument("--make-random", metavar="OUT")
    a = ap.parse_args()
    if a.make_random:
        make_random(a.make_random)
    elif a.pth and a.out:
        convert(a.pth, a.out)
    else:
        ap.error("give PTH OUT (or --make-random OUT)")


if __name__ == "__main__":
    main()
