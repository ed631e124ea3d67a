"""Training: one epoch loop for every supervised task, fed by a batch source.

    loop.py      fit: epochs, the per-epoch row, validation, stopping rules, final selection
    trainer.py   Trainer: the model prepared in one order, optimizer, schedule, checkpoint payload
    steps/       what one step does: sgd (the reference), fast (a CUDA graph), perceptron (the rule)
    sources/     where batches come from: device (tensors on the device), images (a DataLoader of JPEGs)
    distributed.py, checkpoint.py, agreement.py   ranks, saved state, when to save and stop
"""
