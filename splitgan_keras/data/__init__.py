"""Training sets: the in-memory container, the loaders of each dataset, and the tf.data pipeline."""
