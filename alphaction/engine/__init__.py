"""Training loop and hooks, inference, process set-up and the train/test entry functions."""
