#!/usr/bin/env python3
"""PyTorch peer of `track train`, on CPU or a GPU: the side-by-side half of the trainer rows.

    peer-torch-train.py fmnist --data DIR [--device cuda] [--epochs 2] [--threads 2]
    peer-torch-train.py photos --data FOLDER [--device cuda] [--epochs 5] [--workers 16]

`fmnist` trains the reference CNN (conv 1→32 → pool → conv 32→64 → pool → flatten → dense 128 →
10, dropout 0.5/0.5; 421,642 parameters, gapwatch's `model.head = "flatten"`) on the
Fashion-MNIST IDX files in DIR (plain or `.gz`), as a PyTorch user with a GPU would: the
normalized images held as one tensor on the device, batches by index slicing of a `randperm`, no
augmentation (gapwatch's `transforms.augment = "none"`).

`photos` trains gapwatch's default colour CNN at the photo default size (64×64; conv 3→32 →
pool → conv 32→64 → pool → global average pool → dense 128 → classes; 28,099 parameters for
three classes) on an ImageFolder, fed by torchvision's `DataLoader` with WORKERS processes
through gapwatch's default small-image chain: Resize(74) → RandomCrop(64, padding=2) →
RandomHorizontalFlip → ToTensor → Normalize (the training set's channel statistics, from a pass
over the resized images before training; gapwatch's `normalize = "dataset"` takes its own from
the full-size images).

Both: Adam (lr 1e-3, weight decay 1e-4, PyTorch's L2-in-the-gradient form, as gapwatch's `adam`),
batch 64, cross-entropy; the loss read back every step (`loss.item()`), as the PyTorch peer of
the CPU rows (`train_fmnist_torch.py`) and gapwatch (for its non-finite check and progress) do.
Each epoch prints one line, `epoch N images_per_sec X train_s S ...`, where the time is the
training loop alone (the data loading that feeds it included, evaluation excluded), ending with
the device synchronized.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn


def read_idx(folder, name):
    """`folder/name`, or `folder/name.gz`: the IDX file's array."""
    path = os.path.join(folder, name)
    with (open(path, "rb") if os.path.exists(path) else gzip.open(path + ".gz", "rb")) as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def conv_features(channels):
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    )


class ReferenceCNN(nn.Module):
    """The reference CNN for 28×28 grey images: 421,642 parameters."""

    def __init__(self):
        super().__init__()
        self.features = conv_features(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.head(self.features(x))


class PhotoCNN(nn.Module):
    """gapwatch's default CNN for colour photos: global average pooling before the dense layers."""

    def __init__(self, classes):
        super().__init__()
        self.features = conv_features(3)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 128), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(128, classes),
        )

    def forward(self, x):
        return self.head(self.features(x))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def report(epoch, images, seconds, loss, extra=""):
    print(f"epoch {epoch} images_per_sec {images / seconds:.0f} train_s {seconds:.2f} "
          f"train_loss {loss:.4f}{extra}", flush=True)


@torch.no_grad()
def accuracy(model, batches):
    model.eval()
    correct = seen = 0
    for xb, yb in batches:
        correct += (model(xb).argmax(1) == yb).sum().item()
        seen += yb.shape[0]
    return correct / max(seen, 1)


def fmnist(a, device):
    x_train = read_idx(a.data, "train-images-idx3-ubyte")
    y_train = read_idx(a.data, "train-labels-idx1-ubyte")
    x_test = read_idx(a.data, "t10k-images-idx3-ubyte")
    y_test = read_idx(a.data, "t10k-labels-idx1-ubyte")
    scaled = x_train.astype(np.float32) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())

    def tensor(x):
        t = (torch.from_numpy(x.astype(np.float32)) / 255.0 - mean) / std
        return t.unsqueeze(1).contiguous().to(device)

    xtr, xte = tensor(x_train), tensor(x_test)
    ytr = torch.from_numpy(y_train.astype(np.int64)).to(device)
    yte = torch.from_numpy(y_test.astype(np.int64)).to(device)
    model = ReferenceCNN().to(device)
    params = sum(p.numel() for p in model.parameters())
    assert params == 421_642, params
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    n = xtr.shape[0]
    print(f"setup: fmnist torch {torch.__version__} device {device} params {params} "
          f"threads {torch.get_num_threads()} train {n} batch {a.batch}", flush=True)
    for epoch in range(1, a.epochs + 1):
        model.train()
        sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=device)
        total = 0.0
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * yb.shape[0]
        sync(device)
        dt = time.perf_counter() - t0
        test = accuracy(model, ((xte[i:i + 1000], yte[i:i + 1000])
                                for i in range(0, xte.shape[0], 1000)))
        report(epoch, n, dt, total / n, f" test_acc {test:.4f}")


def photos(a, device):
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision import transforms as T

    side, resize = 64, (64 * 256 + 223) // 224
    plain = datasets.ImageFolder(
        a.data, T.Compose([T.Resize(resize), T.CenterCrop(side), T.ToTensor()]))
    stats = torch.stack([x.flatten(1) for x, _ in plain]).transpose(0, 1).flatten(1)
    mean, std = stats.mean(1).tolist(), stats.std(1).tolist()
    train = datasets.ImageFolder(a.data, T.Compose([
        T.Resize(resize), T.RandomCrop(side, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
        T.Normalize(mean, std),
    ]))
    loader = DataLoader(train, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                        pin_memory=device.type == "cuda", persistent_workers=a.workers > 0)
    model = PhotoCNN(len(train.classes)).to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    print(f"setup: photos torch {torch.__version__} device {device} params {params} "
          f"workers {a.workers} images {len(train)} classes {len(train.classes)} batch {a.batch}",
          flush=True)
    for epoch in range(1, a.epochs + 1):
        model.train()
        sync(device)
        t0 = time.perf_counter()
        total, seen = 0.0, 0
        for xb, yb in loader:
            xb = xb.to(device, non_blocking=True)
            yb = yb.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * yb.shape[0]
            seen += yb.shape[0]
        sync(device)
        report(epoch, seen, time.perf_counter() - t0, total / seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("task", choices=["fmnist", "photos"])
    ap.add_argument("--data", required=True, help="IDX folder (fmnist) or ImageFolder (photos)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0: PyTorch's default)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (photos)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    {"fmnist": fmnist, "photos": photos}[a.task](a, device)


if __name__ == "__main__":
    sys.exit(main())
