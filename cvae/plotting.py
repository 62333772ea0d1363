"""Figures every chapter draws: grids of digits, the networks of the structured CVAE,
and animations (frames embedded in the page, played without a kernel).

Used from the chapter :chapter:`The VAE on MNIST <book/vae>` onwards.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
from collections.abc import Callable

import torch
from torch import Tensor

from cvae.checks import (
    check_positive_float,
    check_positive_int,
    check_range,
    check_tensor,
)


def image_grid(images: Tensor, columns: int, padding: int = 2) -> Tensor:
    """Tile ``(N, 1, H, W)`` images row by row into one ``(rows*H', columns*W')`` array.

    Empty cells (when ``N`` is not a multiple of ``columns``) and the padding are white
    so the figure reads the same on light and dark pages.
    """
    check_tensor("images", images, ndim=4, floating=True, finite=False)
    if images.shape[1] != 1:
        shape = tuple(images.shape)
        raise ValueError(f"images must have one channel, (N, 1, H, W), got {shape}")
    check_range("images", images, 0.0, 1.0)  # one reduction; refuses NaN and inf too
    check_positive_int("columns", columns)
    check_positive_int("padding", padding, minimum=0)
    count, _, height, width = images.shape
    rows = -(-count // columns)
    cell_h, cell_w = height + padding, width + padding
    grid = torch.ones(rows * cell_h + padding, columns * cell_w + padding)
    for index, image in enumerate(images.detach().cpu()):
        top = padding + (index // columns) * cell_h
        left = padding + (index % columns) * cell_w
        grid[top : top + height, left : left + width] = 1.0 - image[0]
    return grid


def show_images(images: Tensor, columns: int, ax=None, title="", row_labels=None):
    """Draw digits (pixel values in [0, 1], dark ink on white) on a matplotlib axis,
    with a ``title`` and a list of ``row_labels`` (str, one per row) if given."""
    import matplotlib.pyplot as plt

    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    grid = image_grid(images, columns)
    if row_labels is not None:
        if not isinstance(row_labels, (list, tuple)) or not all(
            isinstance(label, str) for label in row_labels
        ):
            want = "a list of str, one per row of the grid"
            raise TypeError(f"row_labels must be {want}, got {row_labels!r}")
        rows = -(-len(images) // columns)
        if len(row_labels) > rows:
            got = f"{len(row_labels)} entries but the grid has {rows} rows"
            raise ValueError(f"row_labels has {got}")
    if ax is not None and not hasattr(ax, "imshow"):
        raise TypeError(
            f"ax must be a matplotlib Axes or None, got {type(ax).__name__}"
        )
    ax = ax or plt.gca()
    ax.imshow(grid.numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        height = images.shape[2] + 2
        ticks = [2 + height * i + images.shape[2] / 2 for i in range(len(row_labels))]
        ax.set_yticks(ticks, row_labels)
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


# The three networks of the structured CVAE: (formula, centre) in axes coordinates.
_NETWORKS = {
    "recognition": (r"$q(z \mid x, y)$", (0.36, 0.78)),
    "prior": (r"$p(z \mid x)$", (0.36, 0.26)),
    "generation": (r"$p(y \mid x, z)$", (0.85, 0.52)),
}
_BOX = (0.26, 0.18)  # width, height
# The arrows of each path, between named points (networks, or the variables below).
_POINTS = {"x": (0.05, 0.26), "y": (0.05, 0.78), "z": (0.60, 0.52), "out": (0.85, 0.88)}
_PATHS = {
    "training": [("y", "recognition"), ("x", "recognition"), ("x", "prior")]
    + [("recognition", "z"), ("z", "generation"), ("generation", "out")],
    "test": [
        ("x", "prior"),
        ("prior", "z"),
        ("z", "generation"),
        ("generation", "out"),
    ],
}
_OUTPUTS = {"training": r"$\log p(y \mid x, z)$", "test": r"$y \sim p(y \mid x, z)$"}


def cvae_networks_figure(width: float = 7.5):
    """Draw the structured CVAE's three networks, the training path beside the test
    path.

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
    panels = (("training", "tab:blue"), ("test", "tab:orange"))
    for ax, (path, colour) in zip(axes, panels, strict=True):
        known = "y known" if path == "training" else "y unknown"
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"{path}: {known}")
        ax.set_axis_off()
        used = {end for arrow in _PATHS[path] for end in arrow} | {"x"}
        for name, (formula, (cx, cy)) in _NETWORKS.items():
            grey = name not in used
            box = {"boxstyle": "round,pad=0.01", "facecolor": "white", "linewidth": 1.6}
            box |= {"edgecolor": "0.75" if grey else colour, "label": f"{name} network"}
            corner = (cx - _BOX[0] / 2, cy - _BOX[1] / 2)
            ax.add_patch(FancyBboxPatch(corner, *_BOX, **box))
            text = {"ha": "center", "va": "center", "fontsize": 9}
            ax.text(
                cx, cy, f"{name}\n{formula}", color="0.6" if grey else "black", **text
            )
        y = "$y$" if path == "training" else "$y$ ?"
        labels = {"x": "$x$", "y": y, "z": "$z$", "out": _OUTPUTS[path]}
        for name, (px, py) in _POINTS.items():
            colour_of_text = "black" if name in used else "0.6"
            text = {"ha": "center", "va": "center", "fontsize": 10}
            ax.text(px, py, labels[name], color=colour_of_text, **text)
        arrow = {"arrowstyle": "-|>", "color": colour, "lw": 1.3}
        arrow |= {"shrinkA": 0, "shrinkB": 0}
        for start, end in _PATHS[path]:
            ends = {"xy": _anchor(end, start), "xytext": _anchor(start, end)}
            ax.annotate("", arrowprops=arrow, **ends)
        # x also enters the generation network: along the bottom of the panel.
        (x0, y0), (gx, gy) = _POINTS["x"], _NETWORKS["generation"][1]
        ax.plot([x0, x0, gx], [y0 - 0.06, 0.04, 0.04], color=colour, lw=1.3)
        ends = {"xy": (gx, gy - _BOX[1] / 2 - 0.01), "xytext": (gx, 0.04)}
        ax.annotate("", arrowprops=arrow, **ends)
        if path == "training":
            kl_x = _NETWORKS["prior"][1][0] + 0.04
            kl = {"arrowstyle": "<|-|>", "color": "0.3", "lw": 1.0, "linestyle": "--"}
            ax.annotate("", xy=(kl_x, 0.68), xytext=(kl_x, 0.36), arrowprops=kl)
            ax.text(kl_x + 0.02, 0.52, "KL", fontsize=9, color="0.3", va="center")
    fig.tight_layout()
    return fig


def _anchor(name: str, towards: str) -> tuple[float, float]:
    """Where an arrow between two named points starts or ends: a box's edge, or next
    to a variable."""
    (x, y), (tx, ty) = _centre(name), _centre(towards)
    box = (_BOX[0] / 2 + 0.01, _BOX[1] / 2 + 0.01)
    half_w, half_h = box if name in _NETWORKS else (0.04, 0.05)
    dx, dy = tx - x, ty - y
    inf = float("inf")
    scale = min(half_w / abs(dx) if dx else inf, half_h / abs(dy) if dy else inf)
    return x + dx * scale, y + dy * scale


def _centre(name: str) -> tuple[float, float]:
    return _NETWORKS[name][1] if name in _NETWORKS else _POINTS[name]


# --------------------------------------------------------------------------- animations

# matplotlib's player (Animation.to_jshtml) takes its button icons from a web font on a
# CDN; the book's pages work offline, so the icons become plain characters (each button
# keeps its title and aria-label).
_ICONS = {
    "fa fa-minus": "\u2212",
    "fa fa-fast-backward": "\u21e4",
    "fa fa-step-backward": "\u25c2",
    "fa fa-play fa-flip-horizontal": "\u25c0\ufe0e",
    "fa fa-pause": "\u275a\u275a",
    "fa fa-play": "\u25b6\ufe0e",
    "fa fa-step-forward": "\u25b8",
    "fa fa-fast-forward": "\u21e5",
    "fa fa-plus": "+",
}
_FRAME = re.compile(r'frames\[(\d+)\] = "(data:image/png;base64,[^"]*)"', re.S)


class Animation:
    """An animated figure for notebooks and the book's pages, without a kernel.

    Displayed, it is a mime bundle of three views of the same figure: ``text/html``, a
    player of the embedded frames with controls (matplotlib's ``to_jshtml``, made
    self-contained: no web font, no address outside the page; the image carries the alt
    text and shows the still frame before the player starts), ``image/png``, the still
    frame, for the PDF and for viewers that show no HTML, and ``text/plain``.
    Built by :func:`animate`.
    """

    def __init__(self, html_player: str, still_png: bytes, frames: int, alt: str):
        if not isinstance(html_player, str) or not isinstance(still_png, bytes):
            raise TypeError("html_player must be a str and still_png bytes")
        self.frames = check_positive_int("frames", frames)
        self.html, self.png, self.alt = html_player, still_png, alt

    @property
    def html_bytes(self) -> int:
        """How many bytes (UTF-8) the HTML view adds to a page."""
        return len(self.html.encode("utf-8"))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        png = base64.b64encode(self.png).decode("ascii")
        return {"text/html": self.html, "image/png": png, "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"<Animation of {self.frames} frames: {self.alt}>"


def animate(
    draw: Callable[..., Callable[[int], object]],
    frames: int,
    *,
    alt: str,
    figsize: tuple[float, float] = (6.0, 3.0),
    dpi: int = 72,
    interval: int = 250,
    still: int = 0,
    still_dpi: int = 150,
    mode: str = "loop",
) -> Animation:
    """Draw an animation of ``frames`` frames and return it as an :class:`Animation`.

    ``draw(fig)`` draws the first picture on a new figure of ``figsize`` inches and
    returns ``update(i)``, which changes the figure to frame ``i``
    (``0 <= i < frames``). The frames are PNG images at ``dpi`` dots per inch, shown
    every ``interval`` ms; ``mode`` is what the player does at the last frame
    (``"loop"``, ``"once"`` or ``"reflect"``, back and forth). Frame ``still`` is also
    stored as the still image, at ``still_dpi``. ``alt`` describes the animation for
    readers who cannot see it. The figure is closed, so no static copy of it is shown.
    The HTML depends only on the frames and ``alt`` (its element ids are a digest of
    them, not random).
    """
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    if not callable(draw):
        got = type(draw).__name__
        raise TypeError(f"draw must be callable, draw(fig) -> update(i), got {got}")
    for name, value in (("frames", frames), ("dpi", dpi), ("still_dpi", still_dpi)):
        check_positive_int(name, value)
    check_positive_int("interval", interval)
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("alt must describe the animation (a non-empty str)")
    if not isinstance(still, int) or not 0 <= still < frames:
        raise ValueError(f"still must be a frame index in [0, {frames}), got {still!r}")
    if mode not in ("loop", "once", "reflect"):
        raise ValueError(f"mode must be 'loop', 'once' or 'reflect', got {mode!r}")
    settings = {"animation.frame_format": "png", "animation.embed_limit": 20.0}
    with mpl.rc_context(settings | {"savefig.facecolor": "white"}):
        fig = plt.figure(figsize=figsize, dpi=dpi, facecolor="white")
        try:
            update = draw(fig)
            if not callable(update):
                got = type(update).__name__
                raise TypeError(f"draw(fig) must return update(i), got {got}")
            timing = {"frames": frames, "interval": interval, "repeat": mode == "loop"}
            animation = FuncAnimation(fig, update, **timing)
            player = animation.to_jshtml(default_mode=mode)
            update(still)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=still_dpi)
        finally:
            plt.close(fig)
    html_player = _self_contained(player, frames, still, alt)
    return Animation(html_player, buffer.getvalue(), frames, alt)


def _self_contained(player: str, frames: int, still: int, alt: str) -> str:
    """matplotlib's player without the CDN font, with alt text, a still frame and
    fixed ids."""
    embedded = {int(i): data.replace("\\\n", "") for i, data in _FRAME.findall(player)}
    if sorted(embedded) != list(range(frames)):
        got = f"{len(embedded)} of {frames} frames (animation.embed_limit?)"
        raise RuntimeError(f"the player embeds {got}")
    # Frames as 256-colour palette PNGs: a plot has few colours, and this is several
    # times smaller than matplotlib's RGBA frames.
    embedded = {i: _palette_png(data) for i, data in embedded.items()}
    player = _FRAME.sub(lambda m: f'frames[{m[1]}] = "{embedded[int(m[1])]}"', player)
    player = re.sub(r"<link[^>]*font-awesome[^>]*>", "", player)
    for icon, text in _ICONS.items():
        span = f'<span aria-hidden="true">{text}</span>'
        player = player.replace(f'<i class="{icon}"></i>', span)
    if "<i class=" in player or re.search(r"https?://", player):
        raise RuntimeError("matplotlib's player changed: an icon or address is left")
    ids = set(re.findall(r"_anim_img([0-9a-f]+)", player))
    frames_text = "".join(embedded[i] for i in range(frames))
    digest = hashlib.sha256((alt + frames_text).encode()).hexdigest()[:32]
    for old in ids:
        player = player.replace(old, digest)
    image = f'class="cvae-animation-frame" alt="{html.escape(alt)}" '
    image += f'src="{embedded[still]}" style="max-width: 100%; height: auto;"'
    image_id = f'<img id="_anim_img{digest}"'
    player = player.replace(f"{image_id}>", f"{image_id} {image}>")
    return f'<div class="cvae-animation" data-frames="{frames}">{player.strip()}</div>'


def _palette_png(data_uri: str) -> str:
    """A PNG data URI re-encoded with an adaptive palette of at most 256 colours."""
    from PIL import Image

    head, _, payload = data_uri.partition(",")
    image = Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB")
    buffer = io.BytesIO()
    image.quantize(colors=256).save(buffer, format="PNG", optimize=True)
    return head + "," + base64.b64encode(buffer.getvalue()).decode("ascii")
