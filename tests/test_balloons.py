"""Speech balloons: found on a page, kept white with their lettering, and nothing else taken for one."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from irodori.balloons import Balloons, boxes, components, fill_holes
from irodori.color import rgb_to_lab
from irodori.imageio import Lightness
from irodori.paint import grow


def _flood_labels(mask: np.ndarray, diagonal: bool) -> np.ndarray:
    """The components by a plain flood fill, pixel by pixel (the reference to check against)."""
    out = np.zeros(mask.shape, dtype=int)
    steps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy or dx) and (diagonal or not (dy and dx))]
    h, w = mask.shape
    count = 0
    for y, x in zip(*np.nonzero(mask)):
        if out[y, x]:
            continue
        count += 1
        out[y, x], stack = count, [(y, x)]
        while stack:
            a, b = stack.pop()
            for dy, dx in steps:
                c, d = a + dy, b + dx
                if 0 <= c < h and 0 <= d < w and mask[c, d] and not out[c, d]:
                    out[c, d] = count
                    stack.append((c, d))
    return out


@pytest.mark.parametrize("diagonal", [False, True])
def test_components_are_the_same_partition_a_flood_fill_gives(diagonal):
    rng = np.random.default_rng(4)
    for _ in range(25):
        mask = rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40)))) < rng.uniform(0.2, 0.7)
        labels, n = components(mask, diagonal=diagonal)
        ref = _flood_labels(mask, diagonal)
        assert n == ref.max() and ((labels > 0) == mask).all()
        assert len(set(zip(labels[mask], ref[mask]))) == n  # one label each, the same pixels


def test_boxes_bound_each_component_exactly():
    rng = np.random.default_rng(5)
    for _ in range(10):
        labels, n = components(rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 40)))) < 0.5)
        found = boxes(labels, n)
        for k in range(1, n + 1):
            ys, xs = np.nonzero(labels == k)
            assert tuple(found[k]) == (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)


def test_fill_holes_takes_letters_and_their_counters_but_not_a_gap_to_the_outside():
    shape = np.ones((20, 30), bool)
    shape[8:11, 8:12] = False  # a letter
    shape[8:12, 15:19] = False  # an O, with its counter
    shape[9:11, 16:18] = True
    shape[0:5, 25] = False  # a notch from the edge: outside
    filled = fill_holes(shape)
    assert filled[8:12, 8:19].all() and not filled[0:5, 25].any()


def _font(size: int):
    return ImageFont.load_default(size=size)


def _screen(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx * np.cos(0.5) + yy * np.sin(0.5), -xx * np.sin(0.5) + yy * np.cos(0.5)
    return (np.cos(u * 2 * np.pi / 5) * np.cos(v * 2 * np.pi / 5) + 1) / 2 > 0.75


def balloon_page(h: int = 480, w: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A page (uint8 grey) of one panel of dot screen holding a speech balloon (an outlined
    ellipse with a tail and two lines of 10 px type), a face (an outlined ellipse on paper with
    two eyes and a mouth) and a screen inside an outlined box -> (page, the balloon's paper two
    pixels from its letters, its letters)."""
    page = np.where(_screen(h, w), 0, 255).astype(np.uint8)
    page[:20], page[-20:], page[:, :20], page[:, -20:] = 255, 255, 255, 255
    img = Image.fromarray(page)
    draw = ImageDraw.Draw(img)
    draw.rectangle((18, 18, w - 19, h - 19), outline=0, width=3)
    draw.polygon([(150, 120), (180, 120), (160, 170)], fill=255, outline=0, width=3)
    draw.ellipse((60, 40, 300, 130), fill=255, outline=0, width=3)
    for i, line in enumerate(("Then we had better", "get some sleep.")):
        draw.text((180 - _font(10).getlength(line) / 2, 70 + 14 * i), line, fill=0, font=_font(10))
    draw.ellipse((80, 220, 220, 400), fill=255, outline=0, width=3)  # a face
    draw.ellipse((115, 280, 135, 300), fill=0)
    draw.ellipse((165, 280, 185, 300), fill=0)
    draw.arc((120, 320, 180, 360), 20, 160, fill=0, width=3)
    draw.rectangle((250, 250, 360, 420), outline=0, width=3)  # a box of screen: no lettering
    out = np.asarray(img)
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - 180) / 112) ** 2 + ((yy - 85) / 37) ** 2 < 1
    letters = inside & (out < 128)
    return out, inside & ~grow(letters, 2) & (out == 255), letters


@pytest.fixture(scope="module")
def painter(tiny_paint_onnx):
    from irodori import load_colorizer

    return load_colorizer(tiny_paint_onnx, threads=2)


def _find(page: np.ndarray) -> Balloons:
    lightness = Lightness(page, "gray8")
    return Balloons.find(lightness, lightness.darkest(1), factor=1, paper_l=100.0)


def test_a_balloon_with_lettering_is_found_and_a_face_or_a_boxed_screen_is_not():
    page, paper, letters = balloon_page()
    found = _find(page)
    assert found.count == 1
    cells = found.rows(0, *page.shape)
    assert cells[paper].all() and cells[letters].all()  # its paper and its letters, ...
    assert not cells[220:400, 80:220].any() and not cells[250:420, 250:360].any()  # ... not the face or the box
    empty = page.copy()
    empty[60:110, 90:280] = 255  # the same balloon with no lettering: nothing says it is one
    assert _find(empty).count == 0


def test_rows_of_rivets_and_slanted_hatching_are_no_lettering_and_type_is():
    from irodori.balloons import lettering

    def shape(draw_marks) -> bool:
        img = Image.new("L", (240, 120), 255)
        draw_marks(ImageDraw.Draw(img))
        return lettering(np.asarray(img, dtype=np.float32) / 2.55, np.ones((120, 240), bool))

    assert shape(lambda d: d.text((20, 40), "Then we had better run", fill=0, font=_font(14)))
    tilted = Image.new("L", (240, 120), 255)
    ImageDraw.Draw(tilted).text((20, 50), "Then we had better run", fill=0, font=_font(14))
    tilted = np.asarray(tilted.rotate(6, fillcolor=255), dtype=np.float32) / 2.55  # lettered a little aslant
    assert lettering(tilted, np.ones((120, 240), bool))
    assert not shape(lambda d: [d.ellipse((20 + 16 * i, 50, 28 + 16 * i, 58), fill=0) for i in range(12)])
    assert not shape(lambda d: [d.line((20 + 10 * i, 10 + 3 * i, 24 + 10 * i, 18 + 3 * i + (i * 5) % 7), fill=0,
                                       width=2) for i in range(12)])  # strokes running aslant, as shading is hatched


def test_a_balloon_cut_by_the_pages_edge_is_found():
    img = Image.new("L", (400, 480), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 379, 459), outline=0, width=3)  # a panel, and the balloon over its frame
    draw.ellipse((200, 150, 480, 260), fill=255, outline=0, width=3)
    for i, line in enumerate(("Over here, by", "the old well!")):
        draw.text((240, 180 + 22 * i), line, fill=0, font=_font(16))
    found = _find(np.asarray(img))
    assert found.count == 1 and found.rows(0, 480, 400)[205, 390]


def test_a_narration_box_printed_white_on_black_keeps_its_white_letters(painter):
    img = Image.new("L", (400, 480), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 379, 459), outline=0, width=3)
    draw.rectangle((40, 60, 330, 140), fill=0)  # the box, solid ink
    for i, line in enumerate(("That night, the village", "burned to the ground.")):
        draw.text((60, 76 + 24 * i), line, fill=255, font=_font(16))
    page = np.asarray(img)
    lightness = Lightness(page, "gray8")
    found = Balloons.find(lightness, lightness.darkest(1), factor=1, paper_l=100.0, l_lightest=lightness.lightest(1))
    assert found.count == 1 and _find(page).count == 0  # found only when white on black is looked for
    letters = np.zeros(page.shape, bool)
    letters[66:134, 50:320] = page[66:134, 50:320] == 255
    out_l = rgb_to_lab(np.asarray(painter.colorize(page, mode="paint")))[..., 0]
    assert out_l[letters].min() > 95.0 and out_l[66:134, 50:320][page[66:134, 50:320] == 0].max() < 5.0


def test_a_tightly_lettered_caption_is_found_and_a_window_of_panes_is_not():
    def box(draw_inside) -> int:
        img = Image.new("L", (400, 480), 255)
        draw = ImageDraw.Draw(img)
        draw.rectangle((20, 20, 379, 459), outline=0, width=3)
        draw_inside(draw)
        return _find(np.asarray(img)).count

    def caption(draw):
        lines = ("Narration: the old road was", "older than the kingdom.")
        right = 60 + 7 + max(_font(14).getlength(line) for line in lines) + 7
        draw.rectangle((60, 60, right, 60 + 7 + 2 * 18 + 7), outline=0, width=2)  # 7 px of room
        for i, line in enumerate(lines):
            draw.text((69, 67 + 18 * i), line, fill=0, font=_font(14))

    def window(draw):
        draw.rectangle((60, 60, 60 + 7 + 10 * 22 + 7, 60 + 7 + 3 * 22 + 7), outline=0, width=2)
        for row in range(3):
            for col in range(10):
                x, y = 69 + 22 * col, 69 + 22 * row
                draw.rectangle((x, y, x + 6 + (col * 3) % 7, y + 12), fill=0)  # panes of uneven widths

    assert box(caption) == 1 and box(window) == 0


def test_lettering_set_in_columns_is_found_as_lettering_set_in_rows_is():
    img = Image.new("L", (400, 480), 255)
    draw = ImageDraw.Draw(img)
    draw.ellipse((130, 120, 270, 340), outline=0, width=3)
    for column, word in ((235, "WAIT"), (200, "HERE"), (165, "NOW!")):  # as Japanese is set: down, right to left
        for i, letter in enumerate(word):
            draw.text((column - _font(18).getlength(letter) / 2, 165 + 24 * i), letter, fill=0, font=_font(18))
    page = np.asarray(img)
    assert _find(page).count == 1
    assert _find(np.ascontiguousarray(page.T)).count == 1  # the same turned: rows


def test_a_pages_balloon_stays_white_and_keeps_every_letter_over_screentone(painter, caplog):
    page, paper, letters = balloon_page()
    with caplog.at_level("INFO", logger="irodori.colorizer"):
        out = np.asarray(painter.colorize(page, mode="paint"))
    assert "1 speech balloon found: it stays paper, or takes the colour of a hint placed in it" in caplog.text
    assert (out[paper] == 255).all()  # white paper, exactly
    lab = rgb_to_lab(out)
    ink_l = rgb_to_lab(np.repeat(page[..., None], 3, axis=2))[..., 0]
    assert np.abs(lab[..., 0][letters] - ink_l[letters]).max() < 1.0  # the tone filter took none for dots
    assert np.abs(lab[..., 1:][letters]).max() < 3.0  # and they are ink, without colour
    # asked to paint the page's blank sheet too: its balloons still stay white, as a colourist keeps
    # them (helper 49 found them beige under --background paint, which the docs did not say)
    painted = np.asarray(painter.colorize(page, mode="paint", background="paint"))
    assert (painted[paper] == 255).all()
    far = ~grow(paper | letters, 8)
    assert np.array_equal(out[far], painted[far])  # the rest of the page is painted as before


def gutter_page(h: int = 480, w: int = 400) -> np.ndarray:
    """A page (uint8 grey) of two panels of dot screen, white gutters and margins around them,
    and a speech balloon with two lines of type in the right-hand panel."""
    page = np.where(_screen(h, w), 0, 255).astype(np.uint8)
    outside = np.ones((h, w), bool)
    outside[20:h - 20, 20:195] = outside[20:h - 20, 210:w - 20] = False
    page[outside] = 255
    img = Image.fromarray(page)
    draw = ImageDraw.Draw(img)
    draw.rectangle((18, 18, 196, h - 19), outline=0, width=3)
    draw.rectangle((208, 18, w - 19, h - 19), outline=0, width=3)
    draw.ellipse((220, 40, 370, 130), fill=255, outline=0, width=3)
    for i, line in enumerate(("Then we had", "better go.")):
        draw.text((295 - _font(10).getlength(line) / 2, 70 + 14 * i), line, fill=0, font=_font(10))
    return np.asarray(img)


def test_a_balloons_hint_and_a_gutters_hint_fill_each_its_own(painter, caplog):
    """Helper 57: a hint in a balloon and one in the gutters, given together, were taken as one
    area of two colours and both dropped without a word; two colours in one area now say so."""
    page = gutter_page()
    both = np.asarray(painter.colorize(page, mode="paint", hints=[(250, 60, "#ffd0d0"), (202, 240, "#c0d8ff")]))
    balloon, gutters = both[75:80, 240:250].reshape(-1, 3), both[2:14, 30:370].reshape(-1, 3)
    assert (balloon == both[60, 250]).all() and rgb_to_lab(both[60:61, 250])[0, 1] > 10.0  # pink
    assert (gutters == both[240, 202]).all() and rgb_to_lab(both[240:241, 202])[0, 2] < -10.0  # blue
    with caplog.at_level("WARNING", logger="irodori"):
        two = np.asarray(painter.colorize(page, mode="paint", hints=[(250, 60, "#ffd0d0"), (202, 240, "#ffd0d0"),
                                                                     (202, 300, "#c0d8ff")]))
    assert (two[2:14, 30:370] == 255).all() and "hints of several colours in one blank area" in caplog.text
    assert (two[75:80, 240:250] == two[60, 250]).all()  # the balloon's one colour is still poured


def test_a_hint_in_a_balloon_fills_it_and_nothing_else(painter):
    page, paper, _ = balloon_page()
    plain = np.asarray(painter.colorize(page, mode="paint"))
    red = np.asarray(painter.colorize(page, mode="paint", hints=[(90, 85, "#ffd0d0")]))
    assert (red[paper] == red[85, 90]).all() and rgb_to_lab(red[85:86, 90])[0, 1] > 10.0
    far = ~grow(paper, 12)
    far[:, :20] = far[:20] = False
    assert np.abs(red[far].astype(int) - plain[far]).mean() < 1.0  # the rest of the page as it was
