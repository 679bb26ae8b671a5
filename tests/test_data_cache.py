"""The training data cache (decode once, keep reduced) and page augmentations: tiny images, fast."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from irodori.config import ConfigError, load_config  # noqa: E402
from irodori.data import ColorImageDataset, ImageCache, cache_short_side, random_crop, reduce_image  # noqa: E402


def _image(path, w, h, seed=0):
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def test_cache_decodes_once_and_keeps_a_reduced_copy(tmp_path, monkeypatch):
    path = _image(tmp_path / "page.png", 120, 200)
    cache = ImageCache(short_side=60, max_bytes=10**6)
    first = cache.get(path)
    assert first.size == (60, 100)  # short side reduced to 60, aspect kept
    path.unlink()  # a second read must not touch the file
    assert cache.get(path) is first
    assert cache.nbytes == 60 * 100 * 3


def test_cache_over_its_cap_still_serves_images_but_keeps_none(tmp_path, caplog):
    paths = [_image(tmp_path / f"{i}.png", 40, 40, seed=i) for i in range(3)]
    cache = ImageCache(short_side=64, max_bytes=40 * 40 * 3 * 2)  # room for two
    for p in paths:
        assert cache.get(p).size == (40, 40)  # smaller than short_side: unchanged
    assert len(cache.images) == 2 and "data cache full" in caplog.text


def test_short_side_keeps_the_smallest_crop_at_full_detail():
    cfg = load_config("default").data
    assert cache_short_side(cfg) == 320  # crop 160 at scale_min 0.5
    assert reduce_image(Image.new("RGB", (100, 50)), 320).size == (100, 50)


def test_cached_and_uncached_samples_agree_when_nothing_is_reduced(tmp_path):
    for i in range(2):
        _image(tmp_path / f"{i}.png", 64, 80, seed=i)
    files = sorted(tmp_path.glob("*.png"))
    cached = ColorImageDataset(files, load_config("tiny").data, seed=3)
    plain = ColorImageDataset(files, load_config("tiny", {"data": {"cache_mb": 0}}).data, seed=3)
    assert cached.cache is not None and plain.cache is None
    for key in [(0, 0), (5, 1), (9, 0)]:
        a, b = cached[key], plain[key]
        for name in a:
            assert torch.equal(a[name], b[name]), name


def test_a_truncated_training_image_is_warned_about_once_and_replaced_the_same_way(tmp_path, caplog):
    """A file whose header reads but whose pixels do not is replaced by the next image at every
    draw (the same one, so runs stay reproducible), with one warning, not one per draw."""
    good = _image(tmp_path / "a.png", 64, 80, seed=1)
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (80, 64, 3), dtype=np.uint8)).save(whole)
    (tmp_path / "cut.jpg").write_bytes(whole.read_bytes()[:400])
    data = ColorImageDataset([tmp_path / "cut.jpg", good], load_config("tiny").data, seed=3)
    with caplog.at_level("WARNING", logger="irodori.data"):
        samples = [data[(k, 0)] for k in range(4)]
    assert caplog.text.count("cut.jpg") == 1 and "the next image is used in its place" in caplog.text
    again = ColorImageDataset([good], load_config("tiny").data, seed=3)
    assert all(torch.equal(s["ab"], again[(k, 0)]["ab"]) for k, s in enumerate(samples))


def test_a_file_cut_short_is_skipped_before_training_and_trailing_bytes_are_not_a_cut(tmp_path):
    """A truncated JPEG or PNG passed the header check: counted among the training images, found
    only when drawn. Its missing end marker now has it decoded, and skipped; a whole JPEG with
    bytes after its end (as some cameras write) is kept."""
    from irodori.data import usable_images

    pixels = np.random.default_rng(2).integers(0, 256, (80, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "whole.jpg")
    Image.fromarray(pixels).save(tmp_path / "whole.png")
    (tmp_path / "trailing.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes() + b"camera data" * 20)
    for name in ("whole.jpg", "whole.png"):
        (tmp_path / f"cut-{name}").write_bytes((tmp_path / name).read_bytes()[:-600])
    files = sorted(tmp_path.iterdir())
    kept, problems = usable_images(files)
    assert [p.name for p in kept] == ["trailing.jpg", "whole.jpg", "whole.png"]
    assert len(problems) == 2 and all("not a readable image" in p for p in problems)
    assert "cut-whole.jpg" in problems[0] and "cut-whole.png" in problems[1]


def test_rotated_crops_have_no_empty_corners():
    img = Image.new("RGB", (300, 200), (200, 120, 40))  # one flat colour: a black corner would show
    for k in range(20):
        crop = np.asarray(random_crop(img, np.random.default_rng(k), size=64, scale_min=0.3, rotate_deg=10.0))
        assert crop.shape == (64, 64, 3)
        assert crop.min() > 30  # no black fill anywhere


def test_without_rotation_crops_are_unchanged_by_the_option():
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    a = random_crop(img, np.random.default_rng(7), size=32, scale_min=0.5)
    b = random_crop(img, np.random.default_rng(7), size=32, scale_min=0.5, rotate_deg=0.0)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_finetune_preset_is_a_short_page_recipe():
    cfg = load_config("finetune")
    assert cfg.optim.warmup_steps < cfg.steps / 4  # warm-up well inside the run: no cut, no warning
    assert cfg.data.rotate_deg > 0 and cfg.data.scale_min < 0.5 and cfg.data.cache_mb > 0
    assert cfg.data.manga_prob in (0.0, 1.0)  # an explicit look: printed B&W pages or grey, not a mix
    grey = load_config("finetune", ["--data.manga_prob=0"])
    assert grey.data.manga_prob == 0.0


def test_bad_cache_and_rotation_values_name_the_flag():
    with pytest.raises(ConfigError, match="data.cache_mb"):
        load_config("tiny", ["--data.cache_mb=-1"])
    with pytest.raises(ConfigError, match="data.rotate_deg"):
        load_config("tiny", ["--data.rotate_deg=90"])
