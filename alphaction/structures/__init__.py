"""Plain data structures shared by data, modeling and evaluation (boxes as ``[N, 4]`` tensors)."""
