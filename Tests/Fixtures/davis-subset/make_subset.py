#!/usr/bin/env python3
"""Copies a small DAVIS-layout subset for the end-to-end tests of `sightline ground` and `eval`.

Takes every 8th of the first 48 frames of each sequence of a DAVIS-layout folder (six frames
a sequence), halves their size (frames: Lanczos, JPEG quality 75; masks: nearest, so they
stay 0/255) and keeps the layout, file names and `expressions.csv`.

    python3 Tests/Fixtures/davis-subset/make_subset.py ../shared/data/davis-dev    # needs Pillow
"""
import os
import shutil
import sys

from PIL import Image

FRAMES = range(0, 48, 8)


def main():
    source = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    for kind in ("JPEGImages", "Annotations"):
        shutil.rmtree(os.path.join(here, kind), ignore_errors=True)
    sequences = sorted(os.listdir(os.path.join(source, "JPEGImages", "480p")))
    for seq in sequences:
        for kind, ext in (("JPEGImages", "jpg"), ("Annotations", "png")):
            os.makedirs(os.path.join(here, kind, "480p", seq))
            for i in FRAMES:
                name = f"{i:05d}.{ext}"
                image = Image.open(os.path.join(source, kind, "480p", seq, name))
                size = (image.width // 2, image.height // 2)
                out = os.path.join(here, kind, "480p", seq, name)
                if ext == "jpg":
                    image.convert("RGB").resize(size, Image.LANCZOS).save(out, quality=75)
                else:
                    image.convert("L").resize(size, Image.NEAREST).point(lambda v: 255 if v else 0).save(out)
    shutil.copy(os.path.join(source, "expressions.csv"), os.path.join(here, "expressions.csv"))
    print(f"wrote {len(sequences)} sequences of {len(FRAMES)} frames to {here}")


if __name__ == "__main__":
    main()
