"""Animations for the book's pages (cvae.plotting.animate and Animation): offline,
with a still frame."""

from __future__ import annotations

import base64
import io
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from cvae.plotting import Animation, animate

matplotlib.use("Agg")

ALT = 'A dot that walks once around a circle, "drawn" in <blue>.'
SMALL = {"alt": ALT, "figsize": (2.0, 2.0), "dpi": 40, "still": 2, "still_dpi": 60}
FRAME = r'frames\[(\d+)\] = "(data:image/png;base64,[^"]*)"'


def circle(frames: int):
    def draw(fig):
        ax = fig.add_subplot()
        ax.set(xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), aspect="equal")
        (dot,) = ax.plot([1.0], [0.0], "o", color="tab:blue")

        def update(i):
            angle = 2 * np.pi * i / frames
            dot.set_data([np.cos(angle)], [np.sin(angle)])

        return update

    return draw


@pytest.fixture(scope="module")
def animation() -> Animation:
    return animate(circle(6), 6, **SMALL)


def test_the_bundle_has_the_player_the_still_frame_and_a_line_of_text(animation):
    bundle = animation._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/png", "text/plain"}
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png == animation.png
    image = plt.imread(io.BytesIO(png))
    assert image.shape[:2] == (120, 120)  # 2 x 2 inches at still_dpi = 60
    assert "6 frames" in bundle["text/plain"] and ALT in bundle["text/plain"]


def test_the_player_embeds_every_frame_and_reaches_nothing_outside_the_page(animation):
    player = animation.html
    frames = [i for i, _ in re.findall(FRAME, player, re.S)]
    assert frames == [str(i) for i in range(6)]
    assert "new Array(6)" in player and 'data-frames="6"' in player
    assert not re.search(r"https?://", player), "nothing from another host"
    assert not re.search(r"<(link|iframe)\b", player) and "font-awesome" not in player
    assert "<i class=" not in player  # the web-font icons became characters
    for control in ("Previous", "Next", "First", "Last"):
        assert f'aria-label="{control} frame"' in player
    assert 'aria-label="Play"' in player and 'aria-label="Pause"' in player
    assert animation.html_bytes == len(player.encode("utf-8"))


def test_the_frame_image_carries_the_alt_text_and_starts_on_the_still_frame(animation):
    image = re.search(r"<img [^>]*>", animation.html).group(0)
    escaped = "around a circle, &quot;drawn&quot; in &lt;blue&gt;."
    assert f'alt="A dot that walks once {escaped}"' in image
    src = re.search(r'src="(data:image/png;base64,[^"]+)"', image).group(1)
    embedded = dict(re.findall(FRAME, animation.html, re.S))["2"]
    assert src == embedded.replace("\\\n", "")


def test_the_frames_differ_and_the_html_is_the_same_on_a_second_run(animation):
    frames = [data for _, data in re.findall(FRAME, animation.html, re.S)]
    assert len(set(frames)) == 6, "every frame of the walk shows the dot elsewhere"
    again = animate(circle(6), 6, **SMALL)
    assert again.html == animation.html, "no random ids: same frames, same HTML"


def test_no_figure_is_left_open_even_when_draw_fails():
    before = plt.get_fignums()
    animate(circle(3), 3, alt="a dot", figsize=(1.0, 1.0), dpi=20)
    with pytest.raises(TypeError):
        animate(lambda fig: None, 2, alt="nothing")
    assert plt.get_fignums() == before
