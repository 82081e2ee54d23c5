"""What a run leaves behind and every app reads: the run dir and its lock, checkpoints, the TF1
import, samples, pictures and the exported generator. Below train/ and evaluate/, above models/."""
