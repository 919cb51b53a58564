"""Interaction blocks and IA structures on tiny widths (no backbone)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from alphaction.modeling.ia import ClipLayout, ClipMemory, IAConfig, InteractionBlock, make_ia_structure
from alphaction.modeling.ia.inputs import memory_grid

D, C = 12, 8  # pooled feature width, attention width


def _settings(structure="serial", layers=(("P",), ("O",), ("M",)), **kw):
    base = dict(
        structure=structure,
        layers=tuple(tuple(layer) for layer in layers),
        dim_person=D,
        dim_memory=D,
        dim_inner=C,
        dim_out=D,
        max_person=4,
        max_object=3,
        max_per_sec=2,
        length=(2, 1),
    )
    base.update(kw)
    return IAConfig(**base)


def _randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    # fresh blocks are identities (zero-init out): give every parameter a value so interactions show
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module


def _inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    persons = [torch.randn(3, D, generator=gen), torch.randn(1, D, generator=gen), torch.zeros(0, D)]
    objects = [torch.randn(2, D, generator=gen), torch.zeros(0, D), torch.randn(5, D, generator=gen)]
    memory = [
        ClipMemory(torch.randn(4, D, generator=gen), torch.tensor([0, 1, 3, 3])),
        ClipMemory.empty(D),
        ClipMemory(torch.randn(1, D, generator=gen), torch.tensor([0])),
    ]
    return persons, objects, memory


@pytest.mark.parametrize(
    "structure, layers",
    [
        ("serial", [["P"], ["O"], ["M"], ["P"], ["O"], ["M"]]),
        ("dense", [["P"], ["O"], ["M"], ["P"], ["O"], ["M"]]),
        ("parallel", [["P", "O", "M"], ["P", "O", "M"]]),
    ],
)
@pytest.mark.parametrize("mask_padding", [True, False])
def test_every_structure_maps_persons_to_dim_out(structure, layers, mask_padding):
    ia = _randomize(make_ia_structure(_settings(structure, layers, dim_out=2 * D, mask_padding=mask_padding)))
    persons, objects, memory = _inputs()
    out = ia(persons, objects, memory)
    assert out.shape == (4, 2 * D) and torch.isfinite(out).all()
    assert ia(persons, None, None).shape == (4, 2 * D)  # no objects, no memory


def test_block_attention_equals_a_hand_computed_masked_softmax():
    block = _randomize(InteractionBlock(D, C, D, C))
    query = torch.randn(3, D)
    others = torch.randn(2, 4, C)
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    layout = ClipLayout([2, 1])
    out = block(query, others, mask, layout)
    lin = lambda conv, x: x @ conv.weight.flatten(1).T + conv.bias  # noqa: E731
    expected = []
    for row, clip in enumerate([0, 0, 1]):
        valid = mask[clip]
        q, k, v = (
            lin(block.query, query[row]),
            lin(block.key, others[clip][valid]),
            lin(block.value, others[clip][valid]),
        )
        attended = torch.softmax(k @ q / math.sqrt(C), dim=0) @ v
        expected.append(query[row] + lin(block.out, torch.relu(attended)))
    torch.testing.assert_close(out, torch.stack(expected))


def test_qk_norm_standardises_queries_and_keys_before_the_softmax():
    # QK_NORM: the same hand computation with q and k standardised over their channels (mean 0, variance 1); the
    # state dict is unchanged, and scaling queries and keys by 1000 no longer makes the attention one-hot
    block = _randomize(InteractionBlock(D, C, D, C, qk_norm=True))
    assert block.state_dict().keys() == InteractionBlock(D, C, D, C).state_dict().keys()
    query, others = torch.randn(3, D), torch.randn(2, 4, C)
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    layout = ClipLayout([2, 1])
    lin = lambda conv, x: x @ conv.weight.flatten(1).T + conv.bias  # noqa: E731
    std = lambda x: (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)  # noqa: E731

    def expected(block, query, others):
        rows = []
        for row, clip in enumerate([0, 0, 1]):
            valid = mask[clip]
            q, k = std(lin(block.query, query[row])), std(lin(block.key, others[clip][valid]))
            weights = torch.softmax(k @ q / math.sqrt(C), dim=0)
            rows.append(
                (weights, query[row] + lin(block.out, torch.relu(weights @ lin(block.value, others[clip][valid]))))
            )
        return rows

    out = block(query, others, mask, layout)
    torch.testing.assert_close(out, torch.stack([r for _, r in expected(block, query, others)]))
    with torch.no_grad():  # huge projections: plain logits in the thousands, normalised ones within +-sqrt(C)
        for conv in (block.query, block.key):
            conv.weight.mul_(1000.0)
            conv.bias.mul_(1000.0)
    for weights, _ in expected(block, query, others):
        assert weights.max() < 0.999
    torch.testing.assert_close(
        block(query, others, mask, layout), torch.stack([r for _, r in expected(block, query, others)])
    )


def test_padded_slots_change_nothing_with_masking_and_something_without():
    block = _randomize(InteractionBlock(D, C, D, C, layer_norm=True))
    query, layout = torch.randn(3, D), ClipLayout([2, 1])
    others = torch.randn(2, 3, C)
    mask = torch.ones(2, 3, dtype=torch.bool)
    padded = torch.cat([others, torch.zeros(2, 4, C)], dim=1)  # zero-padded, as the key builders pad
    padded_mask = torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], dim=1)
    reference = block(query, others, mask, layout)
    torch.testing.assert_close(block(query, padded, padded_mask, layout), reference)
    assert not torch.allclose(block(query, padded, None, layout), reference)  # AlphAction: pads take part


@pytest.mark.parametrize("grow", ["max_person", "max_object", "max_per_sec"])
def test_larger_padding_of_a_structure_changes_output_only_without_mask(grow):
    persons, objects, memory = _inputs()
    results = {}
    for mask_padding in (True, False):
        # sizes that already hold every real entry: growing them only adds padding
        base = _settings(
            mask_padding=mask_padding, layers=(("P",), ("O",), ("M",), ("P",)), max_object=5, max_per_sec=3
        )
        small = _randomize(make_ia_structure(base))
        bigger = IAConfig(**{**base.__dict__, grow: getattr(base, grow) + 3})
        large = make_ia_structure(bigger)
        large.load_state_dict(small.state_dict())  # padding sizes do not change parameter shapes
        small.eval(), large.eval()
        results[mask_padding] = (small(persons, objects, memory), large(persons, objects, memory))
    torch.testing.assert_close(*results[True])
    assert not torch.allclose(*results[False])


def test_fresh_block_is_an_identity_and_a_widening_block_its_shortcut():
    query, others, layout = torch.randn(3, D), torch.randn(2, 4, C), ClipLayout([2, 1])
    block = InteractionBlock(D, C, D, C, layer_norm=True)
    assert block.shortcut is None and not block.out.weight.any()
    torch.testing.assert_close(block(query, others, None, layout), query)
    wide = InteractionBlock(D, C, 2 * D, C)
    torch.testing.assert_close(wide(query, others, None, layout), wide.shortcut(query))


def test_layer_norm_exists_from_init_and_adds_no_state():
    block = InteractionBlock(D, C, D, C, layer_norm=True)
    assert isinstance(block.layer_norm, nn.LayerNorm) and not block.layer_norm.elementwise_affine
    assert set(block.state_dict()) == {f"{n}.{p}" for n in ("query", "key", "value", "out") for p in ("weight", "bias")}


def test_no_bias_removes_every_bias():
    ia = make_ia_structure(_settings("dense", [["P"], ["O"], ["M"], ["P"]], bias=False, dim_out=2 * D))
    assert not [k for k in ia.state_dict() if k.endswith("bias")]
    assert ia.P_block_2.shortcut.stride == (1, 1, 1)  # AlphAction passed the flag as the stride


@pytest.mark.parametrize(
    "layers, absent",
    [
        ([["P"]], {"mem_dim_reduce", "object_dim_reduce"}),
        ([["O"]], {"mem_dim_reduce", "person_key_dim_reduce"}),
        ([["P"], ["O"]], {"mem_dim_reduce"}),
        ([["M"], ["M"]], {"person_key_dim_reduce", "object_dim_reduce"}),
    ],
)
def test_any_subset_of_blocks_works_and_uses_every_parameter(layers, absent):
    ia = _randomize(make_ia_structure(_settings("serial", layers)))
    assert not absent & {name for name, _ in ia.named_children()}
    persons, objects, memory = _inputs()
    ia(persons, objects, memory).square().sum().backward()
    unused = [n for n, p in ia.named_parameters() if p.grad is None]
    assert not unused  # DDP needs every parameter in the graph


def test_parallel_output_is_the_sum_of_its_last_layer_blocks():
    ia = _randomize(make_ia_structure(_settings("parallel", [["P", "O"]])))
    persons, objects, _ = _inputs()
    rows = torch.cat(persons)
    layout = ClipLayout([p.shape[0] for p in persons])
    query = ia.person_dim_reduce(rows)
    # P keys: the (<= max_person) persons of each clip; O keys: the (<= max_object) objects, zero-padded
    p_keys = torch.zeros(3, 4, D)
    p_mask = torch.zeros(3, 4, dtype=torch.bool)
    o_keys = torch.zeros(3, 3, D)
    o_mask = torch.zeros(3, 3, dtype=torch.bool)
    for clip, (p, o) in enumerate(zip(persons, objects)):
        p_keys[clip, : len(p)], p_mask[clip, : len(p)] = p, True
        o_keys[clip, : min(len(o), 3)], o_mask[clip, : min(len(o), 3)] = o[:3], True
    expected = ia.P_block_1(query, ia.person_key_dim_reduce(p_keys), p_mask, layout) + ia.O_block_1(
        query, ia.object_dim_reduce(o_keys), o_mask, layout
    )
    torch.testing.assert_close(ia(persons, objects), expected)


def test_dense_weights_start_on_the_previous_block():
    ia = make_ia_structure(_settings("dense", [["P"], ["O"], ["M"], ["P"], ["O"], ["M"]]))
    assert sorted(ia.dense_params) == ["2", "3", "4", "5"]
    for k, param in ia.dense_params.items():
        weights = param.flatten(1).softmax(dim=0)[:, 0]
        assert weights[-1] > 0.9999 and torch.all(weights[:-1] < 1e-4), k


def test_memory_grid_places_rows_by_slot_and_current_persons_in_the_middle():
    own = [torch.full((3, 2), 7.0)]
    memory = [ClipMemory(torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [9.0, 9.0]]), torch.tensor([0, 2, 0, 1]))]
    grid, mask = memory_grid(
        memory, own, num_slots=3, current_slot=1, per_slot=2, dim=2, random=False, like=torch.zeros(1)
    )
    assert grid.shape == (1, 6, 2)
    assert mask[0].tolist() == [True, True, True, True, True, False]
    # slot 0: rows 1 and 3; slot 1: the clip's own persons (the given row 9 is ignored), capped at 2; slot 2: row 2
    assert grid[0, :, 0].tolist() == [1.0, 3.0, 7.0, 7.0, 2.0, 0.0]
    with pytest.raises(ValueError, match="slots must lie in"):
        memory_grid([ClipMemory(torch.zeros(1, 2), torch.tensor([3]))], own, 3, 1, 2, 2, False, torch.zeros(1))


def test_temporal_position_tells_memory_seconds_apart():
    ia = _randomize(make_ia_structure(_settings("serial", [["M"]])))
    persons = [torch.randn(2, D)]
    feature = torch.randn(1, D)
    early = ia(persons, None, [ClipMemory(feature, torch.tensor([0]))])
    late = ia(persons, None, [ClipMemory(feature, torch.tensor([3]))])
    assert not torch.allclose(early, late)


def test_memory_none_means_only_the_current_second():
    ia = _randomize(make_ia_structure(_settings("serial", [["M"]])))
    persons = [torch.randn(2, D), torch.randn(1, D)]
    torch.testing.assert_close(ia(persons, None, None), ia(persons, None, [ClipMemory.empty(D)] * 2))


def test_bad_block_lists_are_rejected():
    with pytest.raises(ValueError, match="flat"):
        make_ia_structure(_settings("serial", [["P", "O"]]))
    with pytest.raises(ValueError, match="more blocks than layer 1"):  # block k takes block k's output
        make_ia_structure(_settings("parallel", [["P"], ["P", "O"]]))
    with pytest.raises(ValueError, match="every layer needs blocks"):
        make_ia_structure(_settings("serial", [["X"]]))


def test_memory_norm_makes_memory_blocks_blind_to_each_rows_scale_and_offset():
    # with MEMORY_NORM each remembered feature is standardised: a x + b (a > 0, per row) gives the same output,
    # while without it the same change moves the output; the state dict is the same either way
    layers = (("P",), ("M",), ("O",), ("M",))
    normed = _randomize(make_ia_structure(_settings("dense", layers, memory_norm=True)))
    plain = _randomize(make_ia_structure(_settings("dense", layers)))
    assert normed.state_dict().keys() == plain.state_dict().keys()
    normed.eval(), plain.eval()
    persons, objects, memory = _inputs(1)
    scale, shift = torch.tensor([[2.0], [0.5], [3.0], [1.5]]), torch.tensor([[1.0], [-2.0], [0.3], [4.0]])
    moved = [
        ClipMemory(memory[0].features * scale + shift, memory[0].slots),
        memory[1],
        ClipMemory(memory[2].features * 5.0 - 1.0, memory[2].slots),
    ]
    torch.testing.assert_close(normed(persons, objects, moved), normed(persons, objects, memory), rtol=1e-4, atol=1e-4)
    assert (plain(persons, objects, moved) - plain(persons, objects, memory)).abs().max() > 1e-2
    # padding still changes nothing: a clip's output with its memory equals that clip alone
    alone = normed(persons[:1], objects[:1], memory[:1])
    torch.testing.assert_close(normed(persons, objects, memory)[:3], alone, rtol=1e-5, atol=1e-5)
