"""The networks, their class state, the losses, the optimizers and one training iteration (SplitGAN)."""
