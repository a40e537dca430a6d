"""`attnflow`: train from the terminal into a checkpoint the app imports; serve by default."""

from __future__ import annotations

import ast
from pathlib import Path

import torch

from app import cli, server
from app.services.builder import build
from app.services.specs import CreateSpec, checkpoint_extra, decode_generator
from model.checkpoint import inspect
from model.training import Trainer


def test_train_writes_a_checkpoint_the_app_imports(tmp_path, client, capsys):
    out = tmp_path / "run.safetensors"
    status = cli.main(
        [
            "train",
            "--preset",
            "tiny",
            "--corpus",
            "recall",
            "--steps",
            "3",
            "--seed",
            "4",
            "--lr",
            "0.002",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    assert "step 3" in capsys.readouterr().out
    response = client.post("/api/sessions/import", content=out.read_bytes())
    assert response.status_code == 201
    info = response.json()
    assert info["step"] == 3
    assert info["corpus"] == "recall"
    assert info["seed"] == 4
    assert info["optimizer"]["lr"] == 0.002


def test_train_refuses_unknown_presets_with_a_message(tmp_path, capsys):
    status = cli.main(["train", "--preset", "huge", "--out", str(tmp_path / "x.safetensors")])
    assert status == 2
    assert "preset" in capsys.readouterr().err


def test_no_command_serves_on_the_settings_host_and_port(monkeypatch):
    calls = []
    monkeypatch.setattr(server, "serve", lambda app, host, port: calls.append((host, port)) or 0)
    assert cli.main([]) == 0
    assert cli.main(["serve", "--port", "9001"]) == 0
    assert calls == [("127.0.0.1", 8000), ("127.0.0.1", 9001)]


def test_a_cli_checkpoint_resumes_with_the_batches_the_run_would_have_drawn(tmp_path):
    out = tmp_path / "run.safetensors"
    args = ["train", "--corpus", "catmat", "--steps", "3", "--seed", "2", "--out", str(out)]
    assert cli.main(args) == 0
    _, _, step, extra = inspect(out.read_bytes())
    parts = build(CreateSpec(corpus="catmat", seed=2), 10**9, torch.device("cpu"))
    trainer = Trainer(parts.model, parts.data, parts.spec.train)
    for _ in range(step):
        trainer.train_step()
    stored = decode_generator(extra["data_generator"])
    assert stored is not None
    assert torch.equal(stored, trainer.generator.get_state())  # the 4th batch is the same one
    assert extra == checkpoint_extra(parts.spec, None, trainer.config, trainer.generator)


def test_the_cli_and_the_services_import_nothing_of_http():
    http = ("fastapi", "starlette", "app.errors", "app.routers", "app.deps")
    files = [Path(cli.__file__), *Path(cli.__file__).parent.joinpath("services").glob("*.py")]
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(http), (path.name, node.module)
                assert "SessionCreate" not in {a.name for a in node.names}, path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(http) for a in node.names), path.name
    cli_imports = ast.walk(ast.parse(Path(cli.__file__).read_text()))
    assert not any(
        isinstance(n, ast.ImportFrom) and (n.module or "").startswith("app.schemas")
        for n in cli_imports
    )
