"""Linear action classifier ``FCPredictor``."""

from __future__ import annotations

from torch import Tensor, nn


class FCPredictor(nn.Module):
    """Optional dropout, then ``cls_score`` (normal std 0.01 weights, zero bias): ``[K, D] -> [K, C]``."""

    def __init__(self, dim_in: int, num_classes: int, dropout_rate: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.cls_score = nn.Linear(dim_in, num_classes)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.zeros_(self.cls_score.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.cls_score(self.dropout(x))
