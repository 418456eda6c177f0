#!/usr/bin/env python3
"""Writes pamr-golden.json: a small image, a mask, and the mask after PAMR computed in PyTorch.

PAMR (Araslanov & Roth, CVPR 2020) as the authors' code computes it: replicate padding,
affinity -mean_c |I(p) - I(n)| / (1e-8 + 0.1 * std_c(p)) over the 8 neighbours at each
dilation, std with Bessel's correction over the 9 samples of every dilation (the centre once
per dilation), softmax over neighbours, then `iterations` rounds of the weighted neighbour sum.
The Swift tests compare their PAMR with this output and need no Python.

    python3 Tests/Fixtures/pamr/make_golden.py    # needs torch
"""
import json
import os

import torch
import torch.nn.functional as F

DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def shifted(x, dilations, with_centre):
    """x: (C, H, W) -> (C, P, H, W), the values at each neighbour offset."""
    _, h, w = x.shape
    out = []
    for d in dilations:
        padded = F.pad(x[None], [d] * 4, mode="replicate")[0]
        offsets = DIRECTIONS if not with_centre else DIRECTIONS[:4] + [(0, 0)] + DIRECTIONS[4:]
        for dy, dx in offsets:
            out.append(padded[:, d + dy * d:d + dy * d + h, d + dx * d:d + dx * d + w])
    return torch.stack(out, 1)


def pamr(image, mask, dilations, iterations):
    std = shifted(image, dilations, True).std(1, keepdim=True)
    aff = -(image[:, None] - shifted(image, dilations, False)).abs() / (1e-8 + 0.1 * std)
    weights = F.softmax(aff.mean(0), 0)
    for _ in range(iterations):
        mask = (shifted(mask, dilations, False) * weights[None]).sum(1)
    return mask


def main():
    g = torch.Generator().manual_seed(4)
    h, w = 14, 19
    # Two flat regions with noise and a diagonal edge, so the refinement has structure to follow.
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    region = (xx + yy > 15).float()
    rgb = torch.stack([40 + 160 * region, 90 + 60 * region, 200 - 150 * region])
    rgb = (rgb + torch.randint(-20, 21, (3, h, w), generator=g)).clamp(0, 255).to(torch.uint8)
    mask = torch.rand((1, h, w), generator=g, dtype=torch.float64) * 0.5 + 0.5 * region
    mask = torch.round(mask * 1e7) / 1e7
    dilations, iterations = [1, 2, 4], 5
    image = rgb.double() / 255
    refined = pamr(image, mask.double(), dilations, iterations)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pamr-golden.json")
    with open(path, "w") as f:
        json.dump({
            "generator": "make_golden.py",
            "width": w, "height": h,
            "dilations": dilations, "iterations": iterations,
            "rgb": rgb.permute(1, 2, 0).reshape(-1).tolist(),
            "mask": [round(v, 7) for v in mask.reshape(-1).tolist()],
            "refined": [round(v, 7) for v in refined.reshape(-1).tolist()],
        }, f)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
