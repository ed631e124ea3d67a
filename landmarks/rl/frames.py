"""The Nature DQN's preprocessing of screens (Mnih et al. 2015, Methods, "Preprocessing"): the
maximum of each pixel over the last two emulator frames of an action (Atari sprites flicker: some
are drawn on odd frames only), the luminance of that image, rescaled to 84 x 84.

    python -c "import numpy as np; from landmarks.rl.frames import phi; print(phi(np.zeros((210, 160, 3), np.uint8), np.full((210, 160, 3), 255, np.uint8)).max())"
"""

from __future__ import annotations

import numpy as np

SIZE = 84  # the network's input, pixels a side
# ITU-R BT.601 luma, the "Y channel" the paper names (also the weights of OpenCV's RGB2GRAY)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 luminance in 0..255."""
    return rgb.astype(np.float32) @ LUMA


def phi(previous: np.ndarray, current: np.ndarray, size: int = SIZE) -> np.ndarray:
    """One preprocessed frame: the pixelwise maximum of two RGB screens, its luminance, resized to
    size x size by area averaging (each output pixel the mean of the screen pixels it covers), as
    uint8."""
    import cv2

    y = luminance(np.maximum(previous, current))
    return np.clip(np.rint(cv2.resize(y, (size, size), interpolation=cv2.INTER_AREA)), 0, 255).astype(np.uint8)
