import pytest
import torch

from model.config import ModelConfig
from model.flat import FlatParameters
from model.transformer import TransformerLM


@pytest.fixture
def model() -> TransformerLM:
    return TransformerLM(ModelConfig(vocab_size=20, d_model=16, n_heads=2, d_ff=32))


def test_flattening_keeps_every_value_and_shares_storage(model):
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flat = FlatParameters(list(model.parameters()))
    assert flat.values.numel() == model.config.parameter_count()
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name]), name
    with torch.no_grad():
        flat.values.zero_()
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())


def test_grad_norms_match_each_parameters_gradient(model):
    flat = FlatParameters(list(model.parameters()))
    ids = torch.randint(0, 20, (2, 9))
    model.loss(ids[:, :-1], ids[:, 1:]).backward()
    expected = torch.stack([p.grad.norm() for p in model.parameters()])
    torch.testing.assert_close(flat.grad_norms(), expected)


def test_optimizer_updates_show_up_in_the_flat_buffer(model):
    flat = FlatParameters(list(model.parameters()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    before = flat.values.clone()
    ids = torch.randint(0, 20, (2, 9))
    model.loss(ids[:, :-1], ids[:, 1:]).backward()
    optimizer.step()
    after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(flat.values, after)
    assert not torch.equal(flat.values, before)


def test_norms_are_per_parameter_l2_norms(model):
    flat = FlatParameters(list(model.parameters()))
    expected = torch.stack([p.detach().norm() for p in model.parameters()])
    torch.testing.assert_close(flat.norms(flat.values), expected)


def test_split_views_follow_the_buffer_and_norms_of_is_per_tensor(model):
    flat = FlatParameters(list(model.parameters()))
    views = flat.split(flat.values)
    with torch.no_grad():
        flat.values.mul_(3.0)  # the views made before still see the buffer
    expected = torch.stack([p.detach().norm() for p in model.parameters()])
    torch.testing.assert_close(FlatParameters.norms_of(views), expected)
