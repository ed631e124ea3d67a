"""On-device augmentation: crop windows inside the padded image, flips, affine distortions."""

import torch

from landmarks.train.recipe import Recipe
from landmarks.train.sources.augment import augment, random_affine, random_crop, random_flip


def images(n=64, c=3, h=8, w=8):
    return torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w) + 1  # every pixel distinct, none 0


def test_crop_windows_are_inside_the_padded_image_and_match_offsets():
    torch.manual_seed(0)
    x, pad = images(), 4
    oy = torch.randint(0, 2 * pad + 1, (len(x),))
    ox = torch.randint(0, 2 * pad + 1, (len(x),))
    out = random_crop(x, pad, (oy, ox))
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    for i in range(len(x)):
        assert torch.equal(out[i], padded[i, :, oy[i] : oy[i] + 8, ox[i] : ox[i] + 8])


def test_random_crop_offsets_within_bounds_and_all_used():
    torch.manual_seed(1)
    x, pad = images(n=2000, c=1), 4
    out = random_crop(x, pad)
    seen = set()
    for i in range(len(x)):
        # the first nonzero pixel of the crop tells where the window sits
        orig = x[i, 0]
        nz = (out[i, 0] != 0).nonzero()
        r, c = nz[0].tolist()
        value = out[i, 0, r, c]
        (sr, sc) = (orig == value).nonzero()[0].tolist()
        oy, ox = sr - r + pad, sc - c + pad
        assert 0 <= oy <= 2 * pad and 0 <= ox <= 2 * pad
        seen.add((oy, ox))
    assert len(seen) == (2 * pad + 1) ** 2  # every offset occurs


def test_flip_mirrors_exactly_the_masked_images():
    x = images(n=6)
    mask = torch.tensor([True, False, True, False, False, True])
    out = random_flip(x, mask)
    for i in range(6):
        assert torch.equal(out[i], x[i].flip(2) if mask[i] else x[i])
    torch.manual_seed(0)
    share = random_flip(images(n=4000, c=1, h=2, w=2)).ne(images(n=4000, c=1, h=2, w=2)).flatten(1).any(1).float().mean()
    assert 0.45 < share < 0.55


def test_affine_keeps_shape_and_changes_images():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28)
    out = random_affine(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, x)


def test_augment_applies_the_recipe_in_order():
    torch.manual_seed(0)
    x = images(n=8)
    assert torch.equal(augment(x, Recipe()), x)
    out = augment(x, Recipe(augment=("crop", "flip"), crop_pad=2))
    assert out.shape == x.shape
