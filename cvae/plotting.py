"""Figures every chapter draws: grids of digits, and the networks of the structured CVAE.

Used from the chapter :chapter:`The VAE on MNIST <book/vae>` onwards.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvae.checks import check_positive_float, check_positive_int, check_range, check_tensor


def image_grid(images: Tensor, columns: int, padding: int = 2) -> Tensor:
    """Tile ``(N, 1, H, W)`` images row by row into one ``(rows*H', columns*W')`` array.

    Empty cells (when ``N`` is not a multiple of ``columns``) and the padding are white
    so the figure reads the same on light and dark pages.
    """
    check_tensor("images", images, ndim=4, floating=True, finite=False)
    if images.shape[1] != 1:
        raise ValueError(f"images must have one channel, shape (N, 1, H, W), got {tuple(images.shape)}")
    check_range("images", images, 0.0, 1.0)  # one reduction; refuses NaN and inf too
    check_positive_int("columns", columns)
    check_positive_int("padding", padding, minimum=0)
    count, _, height, width = images.shape
    rows = -(-count // columns)
    cell_h, cell_w = height + padding, width + padding
    grid = torch.ones(rows * cell_h + padding, columns * cell_w + padding)
    for index, image in enumerate(images.detach().cpu()):
        top, left = padding + (index // columns) * cell_h, padding + (index % columns) * cell_w
        grid[top : top + height, left : left + width] = 1.0 - image[0]
    return grid


def show_images(images: Tensor, columns: int, ax=None, title: str = "", row_labels: list[str] | None = None):
    """Draw digits (pixel values in [0, 1], dark ink on white) on a matplotlib axis."""
    import matplotlib.pyplot as plt

    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    grid = image_grid(images, columns)
    if row_labels is not None:
        if not isinstance(row_labels, (list, tuple)) or not all(isinstance(label, str) for label in row_labels):
            raise TypeError(f"row_labels must be a list of str, one per row of the grid, got {row_labels!r}")
        rows = -(-len(images) // columns)
        if len(row_labels) > rows:
            raise ValueError(f"row_labels has {len(row_labels)} entries but the grid has {rows} rows")
    if ax is not None and not hasattr(ax, "imshow"):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    ax = ax or plt.gca()
    ax.imshow(grid.numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        height = images.shape[2] + 2
        ax.set_yticks([2 + height * i + images.shape[2] / 2 for i in range(len(row_labels))], row_labels)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


# The three networks of the structured CVAE: (formula, centre) in a panel's axes coordinates.
_NETWORKS = {
    "recognition": (r"$q(z \mid x, y)$", (0.36, 0.78)),
    "prior": (r"$p(z \mid x)$", (0.36, 0.26)),
    "generation": (r"$p(y \mid x, z)$", (0.85, 0.52)),
}
_BOX = (0.26, 0.18)  # width, height
# The arrows of each path, between named points (networks, or the variables below).
_POINTS = {"x": (0.05, 0.26), "y": (0.05, 0.78), "z": (0.60, 0.52), "out": (0.85, 0.88)}
_PATHS = {
    "training": [("y", "recognition"), ("x", "recognition"), ("x", "prior"), ("recognition", "z"),
                 ("z", "generation"), ("generation", "out")],
    "test": [("x", "prior"), ("prior", "z"), ("z", "generation"), ("generation", "out")],
}


def cvae_networks_figure(width: float = 7.5):
    """Draw the structured CVAE's three networks, with the training path beside the test path.

    Left, training: the recognition network :math:`q(z \\mid x, y)` sees the input and
    the true output, its code :math:`z` goes to the generation network, and the KL term
    ties :math:`q` to the prior network :math:`p(z \\mid x)`. Right, test: :math:`y` is
    unknown, so the code comes from the prior network (the path the GSNN trains on).
    The generation network sees :math:`x` on both paths. Each network is a labelled box
    (``patch.get_label()`` is its name). Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    check_positive_float("width", width)
    fig, axes = plt.subplots(1, 2, figsize=(width, 0.42 * width), facecolor="white")
    for ax, (path, colour) in zip(axes, (("training", "tab:blue"), ("test", "tab:orange"))):
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"{path}: " + ("y known" if path == "training" else "y unknown"))
        ax.set_axis_off()
        used = {end for arrow in _PATHS[path] for end in arrow} | {"x"}
        for name, (formula, (cx, cy)) in _NETWORKS.items():
            grey = name not in used
            box = FancyBboxPatch((cx - _BOX[0] / 2, cy - _BOX[1] / 2), *_BOX, boxstyle="round,pad=0.01",
                                 facecolor="white", edgecolor="0.75" if grey else colour, linewidth=1.6,
                                 label=f"{name} network")
            ax.add_patch(box)
            ax.text(cx, cy, f"{name}\n{formula}", ha="center", va="center", fontsize=9,
                    color="0.6" if grey else "black")
        outputs = {"training": r"$\log p(y \mid x, z)$", "test": r"$y \sim p(y \mid x, z)$"}
        labels = {"x": "$x$", "y": "$y$" if path == "training" else "$y$ ?", "z": "$z$", "out": outputs[path]}
        for name, (px, py) in _POINTS.items():
            ax.text(px, py, labels[name], ha="center", va="center", fontsize=10,
                    color="black" if name in used else "0.6")
        arrow = {"arrowstyle": "-|>", "color": colour, "lw": 1.3, "shrinkA": 0, "shrinkB": 0}
        for start, end in _PATHS[path]:
            ax.annotate("", xy=_anchor(end, start), xytext=_anchor(start, end), arrowprops=arrow)
        # x also enters the generation network: along the bottom of the panel.
        (x0, y0), (gx, gy) = _POINTS["x"], _NETWORKS["generation"][1]
        ax.plot([x0, x0, gx], [y0 - 0.06, 0.04, 0.04], color=colour, lw=1.3)
        ax.annotate("", xy=(gx, gy - _BOX[1] / 2 - 0.01), xytext=(gx, 0.04), arrowprops=arrow)
        if path == "training":
            kl_x = _NETWORKS["prior"][1][0] + 0.04
            ax.annotate("", xy=(kl_x, 0.68), xytext=(kl_x, 0.36),
                        arrowprops={"arrowstyle": "<|-|>", "color": "0.3", "lw": 1.0, "linestyle": "--"})
            ax.text(kl_x + 0.02, 0.52, "KL", fontsize=9, color="0.3", va="center")
    fig.tight_layout()
    return fig


def _anchor(name: str, towards: str) -> tuple[float, float]:
    """Where an arrow between two named points starts or ends: a box's edge, or next to a variable."""
    (x, y), (tx, ty) = _centre(name), _centre(towards)
    half_w, half_h = (_BOX[0] / 2 + 0.01, _BOX[1] / 2 + 0.01) if name in _NETWORKS else (0.04, 0.05)
    dx, dy = tx - x, ty - y
    scale = min(half_w / abs(dx) if dx else float("inf"), half_h / abs(dy) if dy else float("inf"))
    return x + dx * scale, y + dy * scale


def _centre(name: str) -> tuple[float, float]:
    return _NETWORKS[name][1] if name in _NETWORKS else _POINTS[name]
