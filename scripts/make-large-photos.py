#!/usr/bin/env python3
"""Phone-sized JPEGs (4032x3024, quality 90) from a folder of photos, for measuring the pipeline
on the 12-megapixel pictures users train on (`data.decode_scale = "auto"` against "full").

Each photo is scaled (Lanczos) to cover 4032x3024 and centre-cropped to it, then given a light
grain (Gaussian, --grain levels) so the file carries about the detail, and the entropy-coded
data, of a real phone photo rather than the smoothness of an enlargement. Needs Pillow; run it
with a Python that has it:

    PYTHON scripts/make-large-photos.py --photos DIR --out DIR [--count 100] [--grain 6]
"""
import argparse
import glob
import os
import sys

from PIL import Image, ImageChops

SIZE = (4032, 3024)


def enlarge(path, grain):
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = max(SIZE[0] / im.width, SIZE[1] / im.height)
        w, h = round(im.width * scale), round(im.height * scale)
        im = im.resize((max(w, SIZE[0]), max(h, SIZE[1])), Image.LANCZOS)
    left, top = (im.width - SIZE[0]) // 2, (im.height - SIZE[1]) // 2
    im = im.crop((left, top, left + SIZE[0], top + SIZE[1]))
    if grain > 0:
        # effect_noise is centred on 128: adding it with offset -128 adds zero-mean grain.
        noise = Image.merge("RGB", [Image.effect_noise(SIZE, grain) for _ in range(3)])
        im = ImageChops.add(im, noise, scale=1.0, offset=-128)
    return im


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", required=True, help="folder of JPEG or PNG photos")
    ap.add_argument("--out", required=True, help="folder to write <name>.jpg into")
    ap.add_argument("--count", type=int, default=100, help="at most this many (sorted by name)")
    ap.add_argument("--grain", type=float, default=6.0, help="grain sigma in levels (0: none)")
    ap.add_argument("--quality", type=int, default=90)
    a = ap.parse_args()
    files = sorted(f for ext in ("jpg", "jpeg", "png", "JPG", "JPEG", "PNG")
                   for f in glob.glob(os.path.join(a.photos, f"*.{ext}")))[: a.count]
    if not files:
        sys.exit(f"--photos: no JPEG or PNG files in {a.photos}")
    os.makedirs(a.out, exist_ok=True)
    total = 0
    for f in files:
        out = os.path.join(a.out, os.path.splitext(os.path.basename(f))[0] + ".jpg")
        enlarge(f, a.grain).save(out, "JPEG", quality=a.quality)
        total += os.path.getsize(out)
    print(f"{len(files)} JPEGs of {SIZE[0]}x{SIZE[1]} (quality {a.quality}) in {a.out}, "
          f"{total / len(files) / 2**20:.1f} MiB each on average")


if __name__ == "__main__":
    main()
