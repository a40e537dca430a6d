import pytest
import torch

from model.config import ConfigError, ModelConfig
from model.presets import PRESETS, get_preset
from model.transformer import TransformerLM


def test_config_rejects_d_model_not_divisible_by_heads_naming_both():
    with pytest.raises(
        ConfigError, match=r"d_model must be a multiple of n_heads \(4\); 30 is not"
    ) as info:
        ModelConfig(vocab_size=10, d_model=30, n_heads=4)
    assert info.value.field == "d_model"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("d_model", 0),
        ("d_ff", -1),
        ("n_heads", 1.5),
        ("context_length", 1),
        ("vocab_size", 1),
        ("n_blocks", 9),
        ("activation", "tanh"),
        ("norm", "middle"),
        ("dropout", 1.0),
        ("seed", -3),
        ("d_model", True),
    ],
)
def test_config_rejects_bad_values_with_field_name(field, value):
    kwargs = {"vocab_size": 10, field: value}
    with pytest.raises(ConfigError) as info:
        ModelConfig(**kwargs)
    assert info.value.field == field
    assert repr(value) in str(info.value)


def test_config_is_frozen_and_round_trips_through_dict():
    config = ModelConfig(vocab_size=12, norm="post", activation="relu")
    with pytest.raises(AttributeError):
        config.d_model = 8  # type: ignore[misc]
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_from_dict_names_unknown_field():
    with pytest.raises(ConfigError, match="colour"):
        ModelConfig.from_dict({"vocab_size": 10, "colour": "blue"})


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"use_attention": False},
        {"use_ffn": False},
        {"norm": "post"},
        {"norm": "none", "residual": False},
        {"n_blocks": 3},
    ],
)
def test_parameter_count_matches_the_allocated_model(changes):
    config = ModelConfig(vocab_size=37, **changes)
    model = TransformerLM(config)
    assert config.parameter_count() == sum(p.numel() for p in model.parameters())


def test_seed_preset_has_the_seed_document_shapes():
    seed = get_preset("seed")
    config = ModelConfig(vocab_size=1000, **seed.model)
    shapes = {n: tuple(t.shape) for n, t in TransformerLM(config).to("meta").state_dict().items()}
    assert seed.batch_size == 4
    assert config.context_length == 256
    for name in ("W_q", "W_k", "W_v", "W_o"):
        assert shapes[f"blocks.0.attn.{name}.weight"] == (768, 768)
    # nn.Linear stores (out, in): W_1 maps 768 -> 3072, W_2 maps 3072 -> 768.
    assert shapes["blocks.0.ffn.W_1.weight"] == (3072, 768)
    assert shapes["blocks.0.ffn.W_2.weight"] == (768, 3072)


def test_unknown_preset_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"huge.*\['seed', 'small', 'tiny'\]"):
        get_preset("huge")
    assert set(PRESETS) >= {"tiny", "seed"}


def test_same_seed_gives_identical_weights_and_other_seed_differs():
    a = TransformerLM(ModelConfig(vocab_size=20, seed=7)).state_dict()
    torch.manual_seed(123)  # the global RNG must not matter
    b = TransformerLM(ModelConfig(vocab_size=20, seed=7)).state_dict()
    c = TransformerLM(ModelConfig(vocab_size=20, seed=8)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["blocks.0.attn.W_q.weight"], c["blocks.0.attn.W_q.weight"])
