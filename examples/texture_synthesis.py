"""Texture synthesis by optimising an image's pixels with L-BFGS against style losses.

No pretrained VGG weights can be fetched here, so the features come from a small convolutional
extractor with *random* weights (fixed seed): Conv2d 3x3 -> ReLU -> 2x2 average pooling, a few
times. Random-weight features already capture a texture's local statistics well enough to
synthesise stripes and checkerboards (Ustyuzhaninov et al. 2016). The loss is

    style_weight * sum_l MSE(Gram(F_l(img)), Gram(F_l(texture)))
  + hist_weight  * sum_l histogram_loss(F_l(img), F_l(texture))      (first and last layer)
  + tv_weight    * total_variation_loss(img)

minimised over the pixels of an image that starts as noise, with ``optim.LBFGS`` (strong-Wolfe
line search). The target texture is generated (``--texture stripes`` or ``checker``).

Defaults, chosen by looking at the results (64x64, 5 L-BFGS steps): random features need
width, as Ustyuzhaninov et al. found: with 32 channels a layer the result stayed speckled noise
around the right colours; with 128 the stripes come out as stripes (with the bends and
dislocations typical of Gram-matrix synthesis) and the checkerboard as clean two-colour
square patches, though not a regular lattice. A full-weight histogram loss kept pixel-level
noise in the image; at 0.1 it still fixes the colours (without it, off-palette blotches
appear).

Pretrained weights: ``--weights file.npz`` with arrays ``conv0.weight`` (C1, 3, kh, kw),
``conv0.bias`` (C1,), ``conv1.weight``, ... (biases optional; the layer count and channels are
taken from the file), and optionally ``mean`` and ``std`` of shape (3,) to normalise the input
(e.g. the first VGG-19 layers exported from a checkpoint you have). It is read with
``numpy.load(..., allow_pickle=False)``.

Outputs: the result as a binary PPM (``--out``, no plotting library needed) and, when matplotlib
is installed, a PNG of the target beside the result and the loss per step (``--plot``).
``--save``/``--resume`` keep the image and the L-BFGS state between runs.

    python examples/texture_synthesis.py [--size 32] [--steps 3] [--texture checker]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from autodiff.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


# ------------------------------------------------------------------------------------ textures
def make_texture(kind: str, size: int, period: int = 8) -> np.ndarray:
    """A (3, size, size) image in [0, 1]: coloured diagonal stripes or a checkerboard."""
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    if kind == "stripes":
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (i + j) / period)
        c1, c2 = np.array([0.9, 0.3, 0.1]), np.array([0.1, 0.2, 0.7])
    elif kind == "checker":
        t = (((i // (period // 2)) + (j // (period // 2))) % 2).astype(float)
        c1, c2 = np.array([0.95, 0.9, 0.2]), np.array([0.15, 0.1, 0.3])
    else:
        raise ValueError(f"make_texture: kind must be 'stripes' or 'checker', got {kind!r}")
    return (c1[:, None, None] * t + c2[:, None, None] * (1 - t)).astype(np.float32)


def save_ppm(path: str | Path, img: np.ndarray) -> None:
    """Write a (3, H, W) image in [0, 1] as a binary PPM."""
    a = (np.clip(np.asarray(img), 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    with open(path, "wb") as fh:
        fh.write(f"P6 {a.shape[1]} {a.shape[0]} 255\n".encode())
        fh.write(a.tobytes())


# ------------------------------------------------------------------------------------ features
class FeatureExtractor(nn.Module):
    """Conv3x3 -> ReLU (-> AvgPool 2x2 between layers); returns every layer's ReLU output."""

    def __init__(self, channels: Sequence[int] = (3, 16, 32, 32), seed: int = 0,
                 weights: str | Path | None = None) -> None:
        super().__init__()
        mean = std = None
        if weights is not None:
            arrays = np.load(weights, allow_pickle=False)
            ws, bs, i = [], [], 0
            while f"conv{i}.weight" in arrays.files:
                ws.append(np.asarray(arrays[f"conv{i}.weight"], dtype=np.float32))
                b = arrays[f"conv{i}.bias"] if f"conv{i}.bias" in arrays.files else None
                bs.append(None if b is None else np.asarray(b, dtype=np.float32))
                i += 1
            if not ws:
                raise ValueError(f"{weights}: no 'conv0.weight' array found (keys: "
                                 f"{arrays.files})")
            channels = [ws[0].shape[1]] + [w.shape[0] for w in ws]
            if "mean" in arrays.files:
                mean = np.asarray(arrays["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
            if "std" in arrays.files:
                std = np.asarray(arrays["std"], dtype=np.float32).reshape(1, -1, 1, 1)
        ad.manual_seed(seed)
        convs = []
        for k, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
            ksize = 3 if weights is None else ws[k].shape[2:]
            pad = 1 if weights is None else (ws[k].shape[2] // 2, ws[k].shape[3] // 2)
            conv = nn.Conv2d(cin, cout, ksize, padding=pad,
                             bias=weights is None or bs[k] is not None)
            if weights is not None:
                with ad.no_grad():
                    if ws[k].shape[1] != cin:
                        raise ValueError(f"{weights}: conv{k}.weight has {ws[k].shape[1]} "
                                         f"input channels, expected {cin}")
                    conv.weight.array[...] = ws[k]
                    if bs[k] is not None:
                        conv.bias.array[...] = bs[k]
            convs.append(conv)
        self.convs = nn.ModuleList(convs)
        self.mean = None if mean is None else ad.tensor(mean)
        self.std = None if std is None else ad.tensor(std)
        self.requires_grad_(False)  # a fixed feature extractor: only the image is optimised

    def forward(self, img: ad.Tensor) -> list[ad.Tensor]:
        h = img if img.ndim == 4 else img.reshape((1,) + tuple(img.shape))
        if self.mean is not None:
            h = h - self.mean
        if self.std is not None:
            h = h / self.std
        feats = []
        for k, conv in enumerate(self.convs):
            h = ad.relu(conv(h))
            feats.append(h)
            if k + 1 < len(self.convs):
                h = F.avg_pool2d(h, 2)
        return feats


# ------------------------------------------------------------------------------------ synthesis
def synthesize(target: np.ndarray, extractor: FeatureExtractor, steps: int = 10,
               max_iter: int = 20, style_weight: float = 1.0, hist_weight: float = 1.0,
               tv_weight: float = 0.05, seed: int = 0,
               setup: Callable[[ad.Tensor, optim.Optimizer, list], int] | None = None,
               after_step: Callable[[list], None] | None = None,
               rep: C.Reporter | None = None) -> tuple[np.ndarray, list[float]]:
    """Optimise a noise image so its features' statistics match ``target``'s. Returns the
    image and the loss after each L-BFGS ``step`` (the first entry: the initial loss).

    ``setup(img, optimizer, losses)`` may restore a saved run into the image, the optimizer and
    the loss list, and returns the steps already done; ``after_step(losses)`` runs after each
    step (to save)."""
    with ad.no_grad():
        tfeats = [t.detach() for t in extractor(ad.tensor(target))]
    hist_layers = sorted({0, len(tfeats) - 1})
    rng = np.random.default_rng(seed)
    img = ad.tensor((0.5 + 0.1 * rng.standard_normal(target.shape)).astype(target.dtype),
                    requires_grad=True)
    # normalise each term by its initial value so the weights are relative
    with ad.no_grad():
        f0 = extractor(img)
        s0 = max(F.style_loss(f0, tfeats).item(), 1e-30)
        h0 = max(F.histogram_loss([f0[i] for i in hist_layers],
                                  [tfeats[i] for i in hist_layers]).item(), 1e-30)

    def objective() -> ad.Tensor:
        fs = extractor(img)
        loss = (style_weight / s0) * F.style_loss(fs, tfeats)
        if hist_weight:
            loss = loss + (hist_weight / h0) * F.histogram_loss(
                [fs[i] for i in hist_layers], [tfeats[i] for i in hist_layers])
        if tv_weight:
            loss = loss + tv_weight * F.total_variation_loss(img)
        return loss

    opt = optim.LBFGS([img], lr=1.0, max_iter=max_iter, history_size=20,
                      line_search_fn="strong_wolfe")

    def closure() -> ad.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    losses: list[float] = []
    first = setup(img, opt, losses) if setup is not None else 0
    if not losses:
        losses.append(objective().item())
    rep = rep or C.Reporter(quiet=True)
    bar = rep.bar(range(first, steps), "L-BFGS steps", total=steps - first, unit="step")
    for _ in bar:
        opt.step(closure)
        losses.append(objective().item())
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        if after_step is not None:
            after_step(losses)
    return img.detach().numpy().copy(), losses


def save_png(path: str | None, target: np.ndarray, img: np.ndarray, losses: list[float],
             say=print) -> bool:
    """The target and the synthesised image side by side, and the loss per L-BFGS step."""
    def draw(fig) -> None:
        for k, (title, a) in enumerate([("target", target), ("synthesised", img)]):
            ax = fig.add_subplot(1, 3, k + 1)
            ax.imshow(np.clip(np.asarray(a), 0, 1).transpose(1, 2, 0), interpolation="nearest")
            ax.set_title(title)
            ax.axis("off")
        ax = fig.add_subplot(1, 3, 3)
        ax.plot(range(len(losses)), losses, marker="o")
        ax.set_yscale("log")
        ax.set_xlabel("L-BFGS step")
        ax.set_ylabel("loss")
    return C.figure(path, draw, say, size=(11.0, 3.8))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = C.parser(__doc__)
    ap.add_argument("--texture", choices=["stripes", "checker"], default="stripes",
                    help="the generated target texture")
    ap.add_argument("--size", type=int, default=32, help="image side in pixels")
    ap.add_argument("--period", type=int, default=8, help="pattern period in pixels")
    ap.add_argument("--steps", type=int, default=3, help="L-BFGS step() calls")
    ap.add_argument("--max-iter", type=int, default=20, help="L-BFGS iterations per step")
    ap.add_argument("--channels", type=int, nargs="+", default=[128, 128, 128],
                    help="output channels of the random conv layers")
    ap.add_argument("--style-weight", type=float, default=1.0, help="weight of the Gram loss")
    ap.add_argument("--hist-weight", type=float, default=0.1,
                    help="weight of the histogram loss")
    ap.add_argument("--tv-weight", type=float, default=0.05,
                    help="weight of the total-variation loss")
    ap.add_argument("--weights", type=str, default=None,
                    help="pretrained conv weights (.npz, see above; default: random features)")
    ap.add_argument("--out", type=str, default="texture_synthesis.ppm",
                    help="write the result as a binary PPM ('' for none)")
    C.add_run_args(ap, "texture_synthesis", plot="texture_synthesis.png")
    args = ap.parse_args(argv)
    rep = C.Reporter(args.quiet)
    say = rep.result

    target = make_texture(args.texture, args.size, args.period)
    extractor = FeatureExtractor([3] + list(args.channels), seed=args.seed,
                                 weights=args.weights)
    rep.line(f"target: a generated {args.texture} texture, {args.size}x{args.size}")
    ckpt = None

    def setup(img: ad.Tensor, opt: optim.Optimizer, losses: list) -> int:
        nonlocal ckpt
        ckpt = C.Checkpoint("texture_synthesis", args, image=C.Params(pixels=img), optimizer=opt)
        done = ckpt.load()
        losses.extend(done.get("losses", []))
        return max(len(losses) - 1, 0)

    t0 = time.perf_counter()
    img, losses = synthesize(target, extractor, steps=args.steps, max_iter=args.max_iter,
                             style_weight=args.style_weight, hist_weight=args.hist_weight,
                             tv_weight=args.tv_weight, seed=args.seed, setup=setup,
                             after_step=lambda losses: ckpt.save(losses=losses), rep=rep)
    dt = time.perf_counter() - t0
    say(f"{args.texture} {args.size}x{args.size}: loss {losses[0]:.4f} -> {losses[-1]:.4f} "
        f"({losses[0] / max(losses[-1], 1e-30):.1f}x lower) in {len(losses) - 1} L-BFGS "
        f"steps, {dt:.1f} s")
    say("  per step: " + " ".join(f"{v:.4f}" for v in losses))
    # how close the synthesised colours are to the texture's (channel means and stds)
    stats = {"target_mean": target.mean(axis=(1, 2)), "image_mean": img.mean(axis=(1, 2)),
             "target_std": target.std(axis=(1, 2)), "image_std": img.std(axis=(1, 2))}
    say(f"  channel means: target {np.round(stats['target_mean'], 3)}, image "
        f"{np.round(stats['image_mean'], 3)}")
    if args.out:
        save_ppm(args.out, img)
        say(f"  wrote {args.out}")
    save_png(args.plot, target, img, losses, say=say)
    return {"losses": losses, "initial_loss": losses[0], "final_loss": losses[-1],
            "image": img, "target": target, "seconds": dt, **stats}


if __name__ == "__main__":
    main()
