"""Training throughput: the course framework's pipeline vs this project's trainer, same model, same device.

  (a) reference: torchvision-style Dataset with PIL transforms (RandomCrop(32, padding=4), RandomHorizontalFlip,
      ToTensor, Normalize), a DataLoader with 2 worker processes, NCHW fp32, a `.item()` per step.
  (b) vgp_models.train.train(): uint8 data on the device, batched crop/flip/normalise, channels_last,
      metrics and gradient statistics on the device, read once per epoch.
Both time the steps after the first (warm-up: with --compile, the compile) and report images/s; the ratio is
(b) / (a). --amp and --compile switch on the trainer's options (RunConfig.amp, RunConfig.compile); the reference
stays fp32 eager NCHW, as the course framework ran.

  VGP_DATA_DIR=../shared/data .venv/bin/python bench/throughput.py --preset vgg38 --steps 30
  .venv/bin/python bench/throughput.py --random        # random uint8 images of CIFAR's shape
  .venv/bin/python bench/throughput.py --random --device cuda --steps 200 --amp --compile   # a GPU box
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import header  # noqa: E402

from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.data import MEAN, STD, Cifar100, Split, load_cifar100  # noqa: E402
from vgp_models.train import build_model, resolve_device, train  # noqa: E402


class PilCifar(Dataset):
    """The reference pipeline: one PIL image at a time through torchvision transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images.transpose(0, 2, 3, 1), labels  # (N, 32, 32, 3) for PIL
        self.transform = transforms.Compose(
            [
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(MEAN, STD),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def reference_images_per_s(config: RunConfig, split: Split, steps: int) -> float:
    device = resolve_device(config)
    model = build_model(RunConfig.from_dict({**config.to_dict(), "channels_last": False}), device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loader = DataLoader(
        PilCifar(split.images.cpu().numpy(), split.labels.cpu().numpy()),
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=2,
        drop_last=True,
    )
    model.train()
    t0 = None
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item(), (logits.argmax(1) == y).float().mean().item()  # the framework logged both every step
        if step == 0:
            t0 = time.perf_counter()
        if step + 1 == steps:
            break
    return (steps - 1) * config.batch_size / (time.perf_counter() - t0)


def trainer_images_per_s(config: RunConfig, data: Cifar100, steps: int) -> float:
    marks: list[float] = []

    def on_step(step: int, _: int) -> None:
        if step in (1, steps):
            if torch.cuda.is_available() and config.device != "cpu":
                torch.cuda.synchronize()
            marks.append(time.perf_counter())

    train(config, data, on_step=on_step)
    return (steps - 1) * config.batch_size / (marks[1] - marks[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="vgg38")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--random", action="store_true", help="random uint8 images instead of CIFAR-100")
    parser.add_argument("--amp", action="store_true", help="trainer with bf16 autocast (RunConfig.amp)")
    parser.add_argument("--compile", action="store_true", help="trainer with torch.compile (RunConfig.compile)")
    args = parser.parse_args()

    n = args.steps * args.batch_size
    config = RunConfig.from_preset(args.preset, epochs=1, batch_size=args.batch_size, device=args.device,
                                   amp=args.amp, compile=args.compile)  # fmt: skip
    device = resolve_device(config)
    data_dir = os.environ.get("VGP_DATA_DIR", "../shared/data")
    if args.random:
        g = torch.Generator().manual_seed(0)
        split = Split(
            torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g).to(device),
            torch.randint(0, 100, (n,), generator=g).to(device),
        )
        source = "random uint8 images"
    else:
        split = load_cifar100(data_dir, device).train
        split = Split(split.images[:n], split.labels[:n])
        source = f"CIFAR-100 from {data_dir}"
    tiny = Split(split.images[:10], split.labels[:10])  # val/test: the trainer's eval is not what is timed
    header("throughput.py")
    print(
        f"# {args.preset}, batch {args.batch_size}, {args.steps} steps on {device}, {source}; trainer amp "
        f"{config.amp}, compile {config.compile}"
    )
    reference = reference_images_per_s(config, split, args.steps)
    print(f"reference (DataLoader + PIL, 2 workers, NCHW, .item() per step): {reference:9.1f} images/s")
    ours = trainer_images_per_s(config, Cifar100(split, tiny, tiny), args.steps)
    options = "".join(f", {name}" for name in ("amp", "compile") if getattr(config, name))
    print(f"vgp_models trainer (data on device, channels_last{options}, stats on device): {ours:9.1f} images/s")
    print(f"ratio: {ours / reference:.2f}x")


if __name__ == "__main__":
    main()
