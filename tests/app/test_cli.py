"""`attnflow`: train from the terminal into a checkpoint the app imports; serve by default."""

from __future__ import annotations

from app import cli, server


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
