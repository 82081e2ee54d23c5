"""The training run: building the model, the run loop, its callbacks, checkpoints and the run dir."""
