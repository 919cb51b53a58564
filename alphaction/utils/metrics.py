"""Smoothed scalars for training logs."""

from __future__ import annotations

from collections import deque


class SmoothedValue:
    """A window of recent values (median over the window) and the running global average."""

    def __init__(self, window: int = 20) -> None:
        self.window: deque[float] = deque(maxlen=window)
        self.total = 0.0
        self.count = 0

    def update(self, value: float) -> None:
        self.window.append(float(value))
        self.total += float(value)
        self.count += 1

    @property
    def median(self) -> float:
        values = sorted(self.window)
        n = len(values)
        if n == 0:
            return float("nan")
        return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])

    @property
    def global_avg(self) -> float:
        return self.total / max(self.count, 1)


class MetricLogger:
    """Named SmoothedValues; ``str()`` gives ``name: median (global_avg)`` pairs."""

    def __init__(self, window: int = 20) -> None:
        self.window = window
        self.meters: dict[str, SmoothedValue] = {}

    def update(self, **values: float) -> None:
        for k, v in values.items():
            self.meters.setdefault(k, SmoothedValue(self.window)).update(v)

    def __str__(self) -> str:
        return "  ".join(f"{k}: {m.median:.4f} ({m.global_avg:.4f})" for k, m in self.meters.items())
