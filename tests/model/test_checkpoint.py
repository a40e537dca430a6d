import io
import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import save as save_safetensors

from model.checkpoint import CheckpointError, from_bytes, inspect, restore_optimizer, to_bytes
from model.config import ModelConfig
from model.data import TokenStream, load_corpus
from model.tokenizer import Tokenizer
from model.training import TrainConfig, Trainer
from model.transformer import TransformerLM


@pytest.fixture(scope="module")
def trained() -> tuple[Trainer, Tokenizer]:
    text = load_corpus("catmat")
    tokenizer = Tokenizer.build(text)
    model = TransformerLM(ModelConfig(vocab_size=tokenizer.vocab_size, d_model=32, d_ff=64))
    trainer = Trainer(model, TokenStream.from_text(text, tokenizer), TrainConfig(eval_every=0))
    trainer.run(3)
    return trainer, tokenizer


def _bytes(trainer: Trainer, tokenizer: Tokenizer) -> bytes:
    return to_bytes(trainer.model, tokenizer, trainer.step, {"corpus": "catmat"}, trainer.optimizer)


def test_round_trip_is_exact_and_keeps_config_vocab_and_step(trained):
    trainer, tokenizer = trained
    loaded = from_bytes(_bytes(trainer, tokenizer))
    assert loaded.model.config == trainer.model.config
    assert loaded.tokenizer == tokenizer
    assert loaded.step == trainer.step
    assert loaded.extra == {"corpus": "catmat"}
    for (name, a), (_, b) in zip(
        trainer.model.state_dict().items(), loaded.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    ids = torch.tensor([tokenizer.encode("the cat sat on the mat .")])
    assert torch.equal(trainer.model.eval()(ids), loaded.model.eval()(ids))


def test_restored_optimizer_continues_the_same_loss_sequence(trained):
    trainer, tokenizer = trained
    data = trainer.data
    loaded = from_bytes(_bytes(trainer, tokenizer))
    resumed = Trainer(loaded.model, data, trainer.config)
    restore_optimizer(loaded.model, resumed.optimizer, loaded.optimizer_state)
    resumed.generator.set_state(trainer.generator.get_state())
    resumed.step = trainer.step
    expected = [r.loss for r in trainer.run(2)]
    got = [r.loss for r in resumed.run(2)]
    assert got == pytest.approx(expected, rel=1e-6)


def test_inspect_reads_metadata_without_tensors(trained):
    trainer, tokenizer = trained
    config, tok, step, _ = inspect(_bytes(trainer, tokenizer))
    assert (config, tok.vocab_size, step) == (
        trainer.model.config,
        tokenizer.vocab_size,
        trainer.step,
    )


def test_pickle_disguised_as_checkpoint_is_refused_without_unpickling(trained, monkeypatch):
    trainer, _ = trained
    buffer = io.BytesIO()
    torch.save(trainer.model.state_dict(), buffer)

    def forbidden(*args, **kwargs):
        raise AssertionError("a checkpoint must never be unpickled")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        from_bytes(buffer.getvalue())


def _retagged(data: bytes, edit) -> bytes:
    """Rewrite a safetensors header in place (keeping the tensor bytes) with `edit(header)`."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: h["__metadata__"].update(format="other"), "not an attnflow checkpoint"),
        (lambda h: h["__metadata__"].update(config="{"), "malformed"),
        (lambda h: h.pop("lm_head.bias"), "lacks parameters"),
        (lambda h: h.update(extra_tensor=dict(h["lm_head.bias"])), "unexpected tensors"),
        (lambda h: h["lm_head.bias"].update(dtype="F16"), "float32"),
        (lambda h: h["lm_head.bias"].update(shape=[3, 27]), "shape"),
        (
            lambda h: h["__metadata__"].update(
                config=json.dumps({**json.loads(h["__metadata__"]["config"]), "d_model": 30})
            ),
            "invalid",
        ),
    ],
)
def test_tampered_checkpoints_are_refused_with_a_clear_error(trained, edit, message):
    trainer, tokenizer = trained
    with pytest.raises(CheckpointError, match=message):
        from_bytes(_retagged(_bytes(trainer, tokenizer), edit))


def test_wrong_shapes_under_the_right_names_are_refused(trained):
    trainer, tokenizer = trained
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    state["blocks.0.attn.W_q.weight"] = torch.zeros(32, 16)
    good = _bytes(trainer, tokenizer)
    (n,) = struct.unpack("<Q", good[:8])
    metadata = json.loads(good[8 : 8 + n])["__metadata__"]
    with pytest.raises(CheckpointError, match=r"W_q.weight.*shape \[32, 16\], expected \[32, 32\]"):
        from_bytes(save_safetensors(state, metadata=metadata))


def test_truncated_file_and_garbage_are_refused(trained):
    trainer, tokenizer = trained
    good = _bytes(trainer, tokenizer)
    for bad in (b"", b"abc", good[: len(good) // 2], b"\xff" * 64):
        with pytest.raises(CheckpointError):
            from_bytes(bad)


def test_model_over_the_parameter_limit_is_refused_before_allocation(trained):
    trainer, tokenizer = trained
    with pytest.raises(CheckpointError, match="above the limit of 1,000"):
        from_bytes(_bytes(trainer, tokenizer), max_parameters=1000)
