#!/usr/bin/env python3
"""Convert FSGAN v1's face segmentation U-Net checkpoint into ned's safetensors weight file.

    python3 scripts/convert_fsgan_unet.py --checkpoint lfw_figaro_unet_256_2_0_segmentation_v1.pth \
        --out fsgan_unet.safetensors
    ned analyze VIDEO WORKDIR --segmentation-model fsgan_unet.safetensors

The checkpoint (the one NED's preprocessing/segment_face.py loads) is a torch.save'd dict whose 'state_dict'
holds UNet(n_classes=3, feature_scale=1) parameters; reading it needs torch (CPU is enough). The output keeps
the state-dict names (conv1.conv1.0.weight, conv1.conv1.1.running_mean, ..., up_concat4.conv1d.weight,
final.weight), F32, with __metadata__ format "ned.fsgan_unet", version "1". 'module.' prefixes (DataParallel)
are removed, num_batches_tracked buffers are dropped (unused: NED runs the BatchNorms in train mode), and the
decoder's 1x1 "conv1d" weights are stored as [out, in, 1, 1].
The FSGAN weights are not redistributed with ned: obtain them under FSGAN's terms (see docs/models.md).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ned_safetensors  # noqa: E402  (scripts/ned_safetensors.py)

EXPECTED = {  # a few names and shapes that identify the right network
    "conv1.conv1.0.weight": [64, 3, 3, 3],
    "center.conv2.0.weight": [1024, 1024, 3, 3],
    "up_concat4.conv1d.weight": [512, 1024, 1, 1],
    "up_concat4.conv.conv1.0.weight": [512, 1024, 3, 3],
    "final.weight": [3, 64, 1, 1],
}


def write_safetensors(path, tensors, metadata):
    """tensors: name -> (shape list, little-endian float32 bytes). Written atomically (temp + rename)."""
    ned_safetensors.write_raw(path, [(n, "F32", shape, data) for n, (shape, data) in tensors.items()], metadata)


def convert_state_dict(sd):
    """sd: name -> torch tensor. Returns name -> (shape, bytes)."""
    out = {}
    for name, t in sd.items():
        if name.startswith("module."):
            name = name[len("module."):]
        if name.endswith("num_batches_tracked"):
            continue
        t = t.detach().cpu().float().contiguous()
        shape = list(t.shape)
        if name.endswith("conv1d.weight") and len(shape) == 3:  # Conv1d(kernel_size=1) variant
            shape = shape + [1]
        out[name] = (shape, t.numpy().astype("<f4").tobytes())
    for name, shape in EXPECTED.items():
        if name not in out:
            raise ValueError("missing %s: is this FSGAN's lfw_figaro_unet_256_2_0_segmentation_v1.pth?" % name)
        if out[name][0] != shape:
            raise ValueError("%s has shape %s, expected %s" % (name, out[name][0], shape))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="FSGAN lfw_figaro_unet_256_2_0_segmentation_v1.pth")
    ap.add_argument("--out", required=True, help="output .safetensors")
    ap.add_argument("-y", "--overwrite", action="store_true")
    a = ap.parse_args(argv)
    if not os.path.isfile(a.checkpoint):
        ap.error("file not found: %s" % a.checkpoint)
    if os.path.exists(a.out) and not a.overwrite:
        ap.error("%s exists (use -y to overwrite)" % a.out)
    try:
        import torch
    except ImportError:
        ap.error("reading the .pth checkpoint needs PyTorch (pip install torch, CPU build is enough)")
    ckpt = torch.load(a.checkpoint, map_location="cpu")
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        ap.error("%s: expected a dict with 'state_dict'" % a.checkpoint)
    tensors = convert_state_dict(sd)
    write_safetensors(a.out, tensors, {"format": "ned.fsgan_unet", "version": "1",
                                       "source": os.path.basename(a.checkpoint)})
    print("wrote %s: %d tensors" % (a.out, len(tensors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
