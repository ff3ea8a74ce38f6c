#!/usr/bin/env python3
"""Convert DECA's deca_model.tar into ned's DECA weight file (safetensors).

    python3 scripts/convert_deca.py --deca deca_model.tar --out deca.safetensors

deca_model.tar is a torch.save'd dict {'E_flame': state_dict, 'E_detail': state_dict, 'D_detail': state_dict,
...}; reading it needs torch (CPU is enough). The output keeps DECA's parameter names prefixed with the
network name (E_flame.encoder.conv1.weight, E_detail.layers.2.weight, D_detail.l1.0.weight, ...), with
__metadata__ format "ned.deca", version "1". Other entries of the tar (optimizer state etc.) are dropped.
See docs/models.md for the licence (non-commercial research; no fake/misleading content).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ned_safetensors import write_numpy as write_safetensors  # noqa: E402

NETWORKS = ("E_flame", "E_detail", "D_detail")
# Written to __metadata__.converter_version. 1: stored 0-d tensors (num_batches_tracked) as shape [1], which
# ned rejects; 2: 0-d tensors stay 0-d. ned's loader names this number when a file does not fit.
CONVERTER_VERSION = "2"


def convert(src, out, log=print):
    import torch  # deca_model.tar is a torch pickle

    ckpt = torch.load(src, map_location="cpu")
    if not isinstance(ckpt, dict):
        raise ValueError("%s: expected a dict, got %r" % (src, type(ckpt)))
    missing = [n for n in NETWORKS if n not in ckpt]
    if missing:
        raise ValueError("%s: missing %s (is this DECA's deca_model.tar?)" % (src, missing))
    tensors = {}
    for net in NETWORKS:
        sd = ckpt[net]
        for name, t in sd.items():
            if name.startswith("module."):  # saved from DataParallel
                name = name[len("module."):]
            a = t.detach().cpu().numpy()
            if a.dtype == np.float64:
                a = a.astype(np.float32)
            tensors["%s.%s" % (net, name)] = a
    write_safetensors(out, tensors, {"format": "ned.deca", "version": "1", "source": os.path.basename(src),
                                   "converter": "convert_deca.py", "converter_version": CONVERTER_VERSION})
    log("wrote %s: %d tensors" % (out, len(tensors)))
    return tensors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deca", required=True, help="DECA's deca_model.tar")
    ap.add_argument("--out", required=True, help="output .safetensors")
    ap.add_argument("-y", "--overwrite", action="store_true")
    a = ap.parse_args(argv)
    if not os.path.isfile(a.deca):
        ap.error("file not found: %s" % a.deca)
    if os.path.exists(a.out) and not a.overwrite:
        ap.error("%s exists (use -y to overwrite)" % a.out)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("convert_deca: error: reading deca_model.tar needs PyTorch (pip install torch, CPU build is enough)",
              file=sys.stderr)
        return 1
    try:
        convert(a.deca, a.out)
    except (ValueError, OSError) as e:
        print("convert_deca: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
