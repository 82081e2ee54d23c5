"""Sample-quality metrics: Inception Score and FID through tensorflow-gan, and the built-in
dataset's class and sub-class accuracy."""
