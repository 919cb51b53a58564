"""Which keys every IA block sees, against hand computation from AlphAction's rules (MVIG-SJTU/AlphAction
``IA_structure.py``): serial and dense serial set ``person_key = query`` after every block (dense also to the mixed
query before blocks 2..), parallel only after P blocks; person keys are reduced and then zero-padded, objects and
memory zero-padded and then reduced."""

from __future__ import annotations

import math

import pytest
import torch

from alphaction.modeling.ia import ClipMemory, IAConfig, make_ia_structure

SQ2 = math.sqrt(2.0)


def _identity_structure(structure: str, layers, **kw):
    """Width 2 everywhere, every 1x1x1 conv the identity with zero bias, no LayerNorm: a block maps its query q to
    ``q + relu(softmax(q . k / sqrt(2)) @ k)`` over its keys k."""
    settings = IAConfig(
        structure=structure,
        layers=tuple(tuple(layer) for layer in layers),
        dim_person=2,
        dim_memory=2,
        dim_inner=2,
        dim_out=2,
        max_person=2,
        max_object=1,
        max_per_sec=1,
        length=(0, 0),
        layer_norm=False,
        **kw,
    )
    ia = make_ia_structure(settings).eval()
    with torch.no_grad():
        for name, p in ia.named_parameters():
            if name.endswith("weight"):
                p.copy_(torch.eye(2).view(2, 2, 1, 1, 1))
            elif name.endswith("bias"):
                p.zero_()
            else:  # dense weights: an equal mix of the earlier outputs
                p.zero_()
    return ia


def _attend(q, keys):
    """By hand: one block with identity projections."""
    logits = [sum(a * b for a, b in zip(q, k)) / SQ2 for k in keys]
    top = max(logits)
    weights = [math.exp(v - top) for v in logits]
    weights = [w / sum(weights) for w in weights]
    attended = [sum(w * k[c] for w, k in zip(weights, keys)) for c in range(2)]
    return [q[c] + max(attended[c], 0.0) for c in range(2)]


P1, P2, OBJ = [1.0, 0.0], [0.0, 1.0], [2.0, 0.0]


def _run(ia):
    return ia([torch.tensor([P1, P2])], [torch.tensor([OBJ])]).tolist()


def test_serial_p_block_2_attends_over_the_previous_blocks_outputs():
    ia = _identity_structure("serial", [["P"], ["O"], ["P"]])
    p_out = [_attend(P1, [P1, P2]), _attend(P2, [P1, P2])]
    o_out = [_attend(q, [OBJ]) for q in p_out]  # one object: weight 1 -> q + relu(o)
    expected = [_attend(q, o_out) for q in o_out]  # keys = O_block_1's outputs (AlphAction: after every block)
    torch.testing.assert_close(torch.tensor(_run(ia)), torch.tensor(expected))
    old_rule = [_attend(q, p_out) for q in o_out]  # keys updated after P blocks only: a different result
    assert max(abs(a - b) for r, s in zip(expected, old_rule) for a, b in zip(r, s)) > 0.05


def test_dense_p_block_attends_over_the_mixed_queries():
    ia = _identity_structure("dense", [["P"], ["O"], ["P"]])
    p_out = [_attend(P1, [P1, P2]), _attend(P2, [P1, P2])]
    o_out = [_attend(q, [OBJ]) for q in p_out]
    mixed = [[(a + b) / 2 for a, b in zip(p, o)] for p, o in zip(p_out, o_out)]  # dense_params 0: weights 1/2
    expected = [_attend(q, mixed) for q in mixed]  # person_key = the mixed query before the block
    torch.testing.assert_close(torch.tensor(_run(ia)), torch.tensor(expected))


def test_parallel_blocks_take_their_positions_output_and_p_keys_move_after_p_blocks_only():
    ia = _identity_structure("parallel", [["P", "O"], ["P", "O"]])
    assert [n for n, _ in ia.named_children() if "block" in n] == ["P_block_1", "O_block_1", "P_block_2", "O_block_2"]
    p_out = [_attend(P1, [P1, P2]), _attend(P2, [P1, P2])]
    o_out = [_attend(q, [OBJ]) for q in (P1, P2)]
    p2 = [_attend(q, p_out) for q in p_out]  # keys: P_block_1's outputs
    o2 = [_attend(q, [OBJ]) for q in o_out]
    expected = [[a + b for a, b in zip(x, y)] for x, y in zip(p2, o2)]
    torch.testing.assert_close(torch.tensor(_run(ia)), torch.tensor(expected))


def _capture(ia):
    seen = {}
    for name, module in ia.named_children():
        if "_block_" in name:
            module.register_forward_hook(lambda m, args, out, name=name: seen.__setitem__(name, (args, out)))
    return seen


def _random(ia, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ia.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return ia


def _settings(structure, layers, **kw):
    base = dict(
        structure=structure,
        layers=tuple(tuple(layer) for layer in layers),
        dim_person=6,
        dim_memory=6,
        dim_inner=4,
        dim_out=6,
        max_person=4,
        max_object=3,
        max_per_sec=2,
        length=(1, 1),
        layer_norm=True,
    )
    return IAConfig(**{**base, **kw})


def _inputs():
    gen = torch.Generator().manual_seed(1)
    persons = [torch.randn(2, 6, generator=gen), torch.randn(1, 6, generator=gen)]
    objects = [torch.randn(1, 6, generator=gen), torch.zeros(0, 6)]
    memory = [ClipMemory(torch.randn(1, 6, generator=gen), torch.tensor([0])), ClipMemory.empty(6)]
    return persons, objects, memory


@pytest.mark.parametrize("structure", ["serial", "dense"])
def test_every_later_p_block_sees_its_own_queries_zero_padded(structure):
    # serial: P_block_2's keys are M_block_1's outputs of the clip's persons; dense: its mixed query
    ia = _random(
        make_ia_structure(_settings(structure, [["P"], ["O"], ["M"], ["P"], ["O"], ["M"]], mask_padding=False))
    ).eval()
    seen = _capture(ia)
    ia(*_inputs())
    (query, others, mask, layout), _ = seen["P_block_2"]
    assert mask is None  # MASK_PADDING False: every slot takes part
    if structure == "serial":
        torch.testing.assert_close(query, seen["M_block_1"][1])
    for clip, rows in enumerate(query.split(layout.counts)):
        torch.testing.assert_close(others[clip, : len(rows)], rows)
        assert not others[clip, len(rows) :].any()  # padded slots: zeros in DIM_INNER space


def test_padding_order_persons_reduced_first_objects_and_memory_padded_first():
    ia = _random(make_ia_structure(_settings("serial", [["P"], ["O"], ["M"]], mask_padding=False))).eval()
    seen = _capture(ia)
    persons, objects, memory = _inputs()
    ia(persons, objects, memory)
    p_others = seen["P_block_1"][0][1]  # [2 clips, MAX_PERSON 4, DIM_INNER]
    reduce = lambda conv, x: x @ conv.weight.flatten(1).T + conv.bias  # noqa: E731
    torch.testing.assert_close(p_others[0, :2], reduce(ia.person_key_dim_reduce, persons[0]))
    torch.testing.assert_close(p_others[1, :1], reduce(ia.person_key_dim_reduce, persons[1]))
    assert not p_others[0, 2:].any() and not p_others[1, 1:].any()  # zeros, not the reduce conv's bias
    o_others = seen["O_block_1"][0][1]  # [2, MAX_OBJECT 3, DIM_INNER]: padded slots hold the bias
    torch.testing.assert_close(o_others[0, 0], reduce(ia.object_dim_reduce, objects[0][0]))
    torch.testing.assert_close(o_others[0, 1:], ia.object_dim_reduce.bias.expand(2, 4))
    torch.testing.assert_close(o_others[1], ia.object_dim_reduce.bias.expand(3, 4))
    m_others = seen["M_block_1"][0][1]  # [2, 3 seconds x 2, DIM_INNER]; slot 1 = the clip's own persons
    torch.testing.assert_close(m_others[0, 0], reduce(ia.mem_dim_reduce, memory[0].features[0]))
    torch.testing.assert_close(m_others[0, 2:4], reduce(ia.mem_dim_reduce, persons[0]))
    torch.testing.assert_close(m_others[1, 0], ia.mem_dim_reduce.bias)


def test_serial_without_a_leading_p_block_has_no_person_key_reduction():
    # its first P block attends over the previous block's outputs, so person_key_dim_reduce would be unused
    ia = _random(make_ia_structure(_settings("serial", [["O"], ["P"]])))
    assert not hasattr(ia, "person_key_dim_reduce")
    persons, objects, memory = _inputs()
    ia(persons, objects, memory).sum().backward()
    assert all(p.grad is not None for p in ia.parameters())
