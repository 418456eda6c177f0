#!/usr/bin/env python3
"""Writes rle-goldens.json: generated binary masks and what pycocotools makes of them.

Each case holds a mask (row-major bits, packed eight to a byte, most significant bit first,
as hex) and pycocotools' compressed RLE string, area and bounding box for it. The Swift tests
compare their encoder, decoder, area and bbox with these and need no Python.

    python3 Tests/Fixtures/rle/make_goldens.py    # needs numpy and pycocotools
"""
import json
import os

import numpy as np
from pycocotools import mask as coco_mask


def ellipse(h, w, cx, cy, rx, ry):
    y, x = np.mgrid[0:h, 0:w]
    return ((x - cx) ** 2 * ry * ry + (y - cy) ** 2 * rx * rx) <= rx * rx * ry * ry


def cases():
    rng = np.random.default_rng(20261122)
    yield "single-pixel", np.ones((1, 1), bool)
    yield "single-empty", np.zeros((1, 1), bool)
    yield "empty", np.zeros((7, 5), bool)
    yield "full", np.ones((7, 5), bool)
    corner = np.zeros((6, 9), bool)
    corner[0, 0] = True
    yield "top-left-pixel", corner
    corner = np.zeros((6, 9), bool)
    corner[5, 8] = True
    yield "bottom-right-pixel", corner
    yield "row", rng.random((1, 40)) < 0.5
    yield "column", rng.random((40, 1)) < 0.5
    rect = np.zeros((12, 20), bool)
    rect[3:9, 4:15] = True
    yield "rectangle", rect
    spans = np.zeros((10, 10), bool)
    spans[8:, 2] = True
    spans[:3, 3] = True
    yield "run-across-columns", spans
    for i, p in enumerate([0.05, 0.5, 0.95]):
        yield f"noise-{i}", rng.random((37, 53)) < p
    yield "ellipse", ellipse(120, 160, 70, 55, 40, 25)
    rings = ellipse(90, 140, 70, 45, 60, 40) & ~ellipse(90, 140, 70, 45, 30, 20)
    yield "ring", rings
    blobs = np.zeros((150, 210), bool)
    for _ in range(12):
        cx, cy = rng.integers(0, 210), rng.integers(0, 150)
        blobs |= ellipse(150, 210, cx, cy, rng.integers(3, 40), rng.integers(3, 40))
    yield "blobs", blobs
    # One run of 60000 zeros: values that need four characters of the string form.
    long_runs = np.zeros((200, 300), bool)
    long_runs[-1, -1] = True
    yield "long-runs", long_runs
    yield "full-large", np.ones((200, 300), bool)


def main():
    out = []
    for name, m in cases():
        m = np.asarray(m, dtype=np.uint8)
        h, w = m.shape
        rle = coco_mask.encode(np.asfortranarray(m))
        assert rle["size"] == [h, w]
        back = coco_mask.decode(rle)
        assert (back == m).all()
        out.append({
            "name": name,
            "height": h,
            "width": w,
            "bits": np.packbits(m.reshape(-1)).tobytes().hex(),
            "counts": rle["counts"].decode("ascii"),
            "area": int(coco_mask.area(rle)),
            "bbox": [int(v) for v in coco_mask.toBbox(rle)],
        })
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rle-goldens.json")
    with open(path, "w") as f:
        json.dump({"generator": "make_goldens.py", "cases": out}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
