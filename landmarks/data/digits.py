"""scikit-learn's bundled 8x8 digits (1797 images, 17 grey levels): real data, no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landmarks.data import DatasetSpec, Splits, arrays_hash, register_dataset

# a fixed, stratified 75/25 train/test split, the same for every seed and every run
TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load_digits_splits(_data_dir: Path) -> Splits:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[..., None]  # (1797, 8, 8, 1), values 0..16
    labels = bunch.target.astype(np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    return Splits(
        name="digits",
        train_x=tr_x,
        train_y=tr_y,
        test_x=te_x,
        test_y=te_y,
        num_classes=10,
        max_value=16,
        content_hash=arrays_hash(tr_x, tr_y, te_x, te_y),
    )


register_dataset(DatasetSpec("digits", "scikit-learn's 8x8 digits, bundled with the library", load_digits_splits))
