"""Batch sources: where a run's batches come from, the one thing the training loop varies on.

- `device.DeviceBatches`: the whole dataset as tensors on the device, batches sliced from it and
  augmented there (MNIST, CIFAR-10: no DataLoader, no host copy per step);
- `images.ImageBatches`: JPEGs decoded per batch by a DataLoader (ImageNet), `image_pipeline`.

A source gives `steps_per_epoch`, `epoch(state)` (the batches from `state.batch` on), `evaluate`
(top-k error over its validation or test split) and `final_test` (the claim's own test pass).
"""
