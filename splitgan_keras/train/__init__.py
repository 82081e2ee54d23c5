"""The training run: building the model, the run loop, its callbacks and what only training writes."""
