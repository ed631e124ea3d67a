"""scikit-learn's bundled 8x8 digits (1797 images, 17 grey levels): real data, no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landmarks.data.registry import Arrays, DatasetSpec, register_dataset

# a fixed, stratified 75/25 train/test split, the same for every seed and every run
TEST_FRACTION = 0.25
SPLIT_SEED = 0


def decode_digits(_files: dict[str, Path]) -> Arrays:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[..., None]  # (1797, 8, 8, 1), values 0..16
    labels = bunch.target.astype(np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(
        images, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels
    )
    return {"train_x": tr_x, "train_y": tr_y, "test_x": te_x, "test_y": te_y}


register_dataset(
    DatasetSpec(
        name="digits",
        description="scikit-learn's 8x8 digits, bundled with the library (no download)",
        num_classes=10,
        max_value=16,
        source="bundled",
        files=(),
        decode=decode_digits,
        shape=(1, 8, 8),
        test_images=450,  # 25% of 1797, stratified
        train_images=1347,
    )
)
