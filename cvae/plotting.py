"""Figures every chapter draws: grids of digits.

Used from the chapter :chapter:`The VAE on MNIST <book/vae>` onwards.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvae.checks import check_positive_int, check_range, check_tensor


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
