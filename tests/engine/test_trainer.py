"""The loop on a toy model: gradient accumulation, clipping, AMP, launch environment parsing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alphaction.engine.launch import init_distributed, select_device
from alphaction.engine.tasks import detection_losses
from alphaction.engine.trainer import Trainer


class Toy(nn.Module):
    """``loss = mean over clips of (w . mean(slow) - target)^2``; same call signature as the detector."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))

    def forward(self, slow, fast, boxes, image_sizes, labels=None, objects=None):
        x = slow.mean(dim=(2, 3, 4))  # [B, 3]
        target = torch.stack([lab.sum() for lab in labels])
        return {"loss_toy": ((x @ self.w - target) ** 2).mean()}


def _batch(values, targets):
    slow = torch.tensor(values, dtype=torch.float32)[:, :, None, None, None].expand(-1, 3, 1, 2, 2).contiguous()
    return {
        "slow": slow,
        "fast": slow,
        "boxes": [torch.zeros(1, 4)] * len(values),
        "image_sizes": [(2, 2)] * len(values),
        "labels": [torch.tensor([t]) for t in targets],
        "indices": list(range(len(values))),
    }


DATA = [([1.0, 2.0, 3.0], 1.0), ([0.5, -1.0, 2.0], -2.0), ([2.0, 0.0, 1.0], 0.5), ([-1.0, 1.0, 1.0], 3.0)]


def _train(batches, accum=1, clip=0.0, amp="off", iters=1):
    model = Toy()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    Trainer(
        model,
        opt,
        iter(batches),
        torch.device("cpu"),
        iters,
        0,
        [],
        amp=amp,
        grad_accum_steps=accum,
        clip_grad_norm=clip,
        forward=detection_losses,  # the Toy takes the detector's call
    ).train()
    return model.w.detach()


def _by_hand(samples, lr=0.1, clip=0.0):
    w = torch.tensor([1.0, -2.0, 0.5])
    x = torch.tensor([s[0] for s in samples])
    t = torch.tensor([s[1] for s in samples])
    grad = 2 * ((x @ w - t)[:, None] * x).mean(0)  # d/dw of the mean squared error
    if clip and grad.norm() > clip:
        grad = grad * clip / grad.norm()
    return w - lr * grad


def test_accumulating_two_micro_batches_equals_one_batch_of_both():
    one = _train([_batch([s[0] for s in DATA], [s[1] for s in DATA])])
    accum = _train(
        [
            _batch([s[0] for s in DATA[:2]], [s[1] for s in DATA[:2]]),
            _batch([s[0] for s in DATA[2:]], [s[1] for s in DATA[2:]]),
        ],
        accum=2,
    )
    torch.testing.assert_close(one, _by_hand(DATA))
    torch.testing.assert_close(accum, _by_hand(DATA))


def test_clip_grad_norm_limits_the_step():
    w = _train([_batch([s[0] for s in DATA], [s[1] for s in DATA])], clip=0.5)
    torch.testing.assert_close(w, _by_hand(DATA, clip=0.5))
    assert (w - torch.tensor([1.0, -2.0, 0.5])).norm().item() == pytest.approx(0.1 * 0.5, rel=1e-5)


def test_bf16_autocast_trains_close_to_fp32():
    w = _train([_batch([s[0] for s in DATA], [s[1] for s in DATA])], amp="bf16")
    torch.testing.assert_close(w, _by_hand(DATA), rtol=0.02, atol=0.02)


def test_fp16_grad_scaler_skips_overflowing_steps_and_checkpoints_its_state():
    batch = _batch([s[0] for s in DATA], [s[1] for s in DATA])
    model = Toy()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        iter([batch]),
        torch.device("cpu"),
        1,
        amp="fp16",
        forward=detection_losses,
    )
    trainer.train()
    # the first scale (2**16) overflows fp16 gradients of this size: the step is skipped and the scale halved
    assert torch.equal(model.w.detach(), torch.tensor([1.0, -2.0, 0.5]))
    assert trainer.state_dict()["grad_scaler"]["scale"] == 2.0**15
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        iter([batch] * 8),
        torch.device("cpu"),
        8,
        amp="fp16",
        forward=detection_losses,
    )
    trainer.load_state_dict(
        {
            "grad_scaler": {
                "scale": 1.0,
                "growth_factor": 2.0,
                "backoff_factor": 0.5,
                "growth_interval": 2000,
                "_growth_tracker": 0,
            }
        }
    )
    trainer.train()  # at scale 1 nothing overflows: ordinary steps
    assert trainer.scaler.get_scale() == 1.0
    assert trainer.last_metrics["loss"] < 0.5 * _loss(torch.tensor([1.0, -2.0, 0.5]))


def _loss(w):
    x = torch.tensor([s[0] for s in DATA])
    t = torch.tensor([s[1] for s in DATA])
    return float(((x @ w - t) ** 2).mean())


def test_unknown_amp_mode_is_an_error():
    with pytest.raises(ValueError, match="SOLVER.AMP"):
        Trainer(Toy(), None, [], torch.device("cpu"), 1, amp="fp8")


def test_environment_of_a_single_process(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = init_distributed("cpu", local_rank_arg=None)
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.distributed) == (0, 0, 1, False)
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's variable wins over the old launcher's argument
    assert init_distributed("cpu", local_rank_arg=3).local_rank == 1
    monkeypatch.delenv("LOCAL_RANK")
    assert init_distributed("cpu", local_rank_arg=3).local_rank == 3


def test_multi_process_needs_a_rendezvous(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(RuntimeError, match="MASTER_ADDR"):
        init_distributed("cpu")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(RuntimeError, match="outside"):
        init_distributed("cpu")


def test_select_device_on_cpu():
    assert select_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert select_device("") == torch.device("cpu")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            select_device("cuda")
