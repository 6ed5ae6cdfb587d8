"""cnndsl: a small language for convolutional networks."""
