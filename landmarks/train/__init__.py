"""Training: the engine (train_one_epoch, evaluate, fit), schedules, seeding."""
