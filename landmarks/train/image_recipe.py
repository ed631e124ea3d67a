"""How a recipe reads images that are decoded per batch (ImageNet-size data): crops, flips,
colour augmentation, the evaluation crops, and the loader. No torch here: the catalog checks it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from landmarks.schema import Strict

Side = Annotated[int, Field(ge=8)]


class ImageRecipe(Strict):
    # random_resized: a crop of random area (8-100%) and aspect (3/4-4/3), resized to `size`
    # (Szegedy et al. 2015; torchvision's reference recipe); random: the shorter side resized to
    # `resize` (one value, or a random one in [low, high]: scale augmentation, Simonyan 2015 and
    # He 2016), then a random `size` crop (Krizhevsky 2012: 224 from 256)
    train_crop: Literal["random_resized", "random"] = "random_resized"
    size: Side = 224
    resize: tuple[Side, Side] = (256, 256)
    flip: bool = True
    # Krizhevsky 2012's colour augmentation: each image plus the RGB principal components times
    # their eigenvalues times N(0, pca_lighting); 0 turns it off (the paper: 0.1)
    pca_lighting: float = Field(0.0, ge=0.0)
    # evaluation: the shorter side resized to eval_resize, then the centre `size` crop, or ten
    # crops (the four corners and the centre, and their mirror images: Krizhevsky 2012, He 2016
    # Table 3) whose outputs are averaged: as logits, or as softmax probabilities (AlexNet's rule)
    eval_resize: Side = 256
    eval_crops: Literal[1, 10] = 1
    crop_average: Literal["logits", "softmax"] = "logits"
    # decoding: "cpu" in the loader's worker processes; "gpu" batched with nvJPEG on the training
    # GPU (torchvision.io.decode_jpeg); "auto" is gpu on CUDA devices and cpu elsewhere
    decode: Literal["auto", "cpu", "gpu"] = "auto"
    workers: int = Field(4, ge=0)  # DataLoader worker processes per training process
    # the model's input: "mean_std", ImageNet's mean subtracted and divided by its std (0..1 scale,
    # what torchvision's models and initialisations expect); "mean_rgb_255", the mean RGB
    # subtracted on the 0..255 scale, as Krizhevsky 2012 and Simonyan 2015 did: AlexNet's N(0, 0.01)
    # weights assume inputs of that size, and on the std scale its signal is some 50 times weaker
    normalize: Literal["mean_std", "mean_rgb_255"] = "mean_std"

    @model_validator(mode="after")
    def _sizes(self) -> "ImageRecipe":
        if self.resize[0] > self.resize[1]:
            raise ValueError(f"resize {list(self.resize)}: the low side comes first")
        if self.train_crop == "random" and self.resize[0] < self.size:
            raise ValueError(f"resize {list(self.resize)} is smaller than the crop size {self.size}")
        if self.eval_resize < self.size:
            raise ValueError(f"eval_resize {self.eval_resize} is smaller than the crop size {self.size}")
        return self
