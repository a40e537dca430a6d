"""`attnflow`: serve the app, or train a model from the terminal into a checkpoint the app imports.

attnflow                       # same as `attnflow serve`
attnflow serve --port 8000
attnflow train --preset tiny --corpus catmat --steps 500 --out run.safetensors
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from app.settings import Settings, get_settings


def _parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="attnflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the web app (default)")
    serve.add_argument("--host", default=settings.host, help=f"default {settings.host}")
    serve.add_argument("--port", type=int, default=settings.port, help=f"default {settings.port}")
    train = commands.add_parser("train", help="train from the terminal, write a checkpoint")
    train.add_argument("--preset", default="tiny")
    train.add_argument("--corpus", default="catmat", help="a built-in corpus name")
    train.add_argument("--text", type=Path, help="train on this text file instead of --corpus")
    train.add_argument("--tokenizer", choices=["word", "char"], default="word")
    train.add_argument("--steps", type=int, default=500)
    train.add_argument("--lr", type=float, help="default: the preset's")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", type=Path, default=Path("run.safetensors"))
    return parser


def serve(host: str, port: int) -> int:
    """uvicorn with a graceful shutdown: on SIGTERM runs pause at the next chunk boundary,
    streams get a bye (close 1001), every session is saved, and the exit code is 0."""
    from app import server
    from app.main import create_app

    settings = get_settings().model_copy(update={"host": host, "port": port})
    app = create_app(settings)  # configures logging, so the line below is formatted like the rest
    logging.getLogger("attnflow.server").info("%s", data_dir_line(settings))
    return server.serve(app, host, port)


def data_dir_line(settings: Settings) -> str:
    """Where sessions go, said at start-up: the default is a per-user directory, not the cwd."""
    if not settings.persist:
        return f"sessions are not saved (ATTNFLOW_PERSIST=false); data dir {settings.data_dir}"
    return f"sessions are saved in {settings.data_dir / 'sessions'} (ATTNFLOW_DATA_DIR)"


def train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from app.services.builder import build
    from app.services.specs import CreateSpec, checkpoint_extra
    from app.services.worker import threads_for
    from model.checkpoint import to_bytes
    from model.training import Trainer, TrainingDiverged

    if args.steps < 1:
        print("attnflow train: --steps must be at least 1", file=sys.stderr)
        return 2
    try:
        text = args.text.read_text(encoding="utf-8") if args.text else None
        spec = CreateSpec(
            preset=args.preset,
            corpus=args.corpus,
            text=text,
            tokenizer=args.tokenizer,
            seed=args.seed,
            optimizer={"lr": args.lr},
        )
        parts = build(spec, get_settings().max_parameters, torch.device("cpu"))
    except (ValueError, OSError) as exc:  # model.errors.FieldError is a ValueError
        print(f"attnflow train: {exc}", file=sys.stderr)
        return 2
    settings = get_settings()
    config = parts.model.config
    torch.set_num_threads(
        threads_for(
            config.parameter_count(), settings.torch_threads, settings.threads_above_parameters
        )
    )
    trainer = Trainer(parts.model, parts.data, parts.spec.train)
    print(
        f"{args.preset}: {config.parameter_count():,} parameters, vocab {config.vocab_size}, "
        f"corpus {parts.spec.corpus}"
    )
    started = time.perf_counter()
    status = 0
    with tqdm(total=args.steps, unit="step") as bar:
        try:
            for _ in range(args.steps):
                record = trainer.train_step()
                bar.set_postfix(loss=f"{record.loss:.3f}", refresh=False)
                bar.update()
        except TrainingDiverged as exc:
            print(f"\n{exc}", file=sys.stderr)
            status = 1
    heldout = trainer.heldout_loss()
    data = to_bytes(
        parts.model,
        parts.tokenizer,
        trainer.step,
        extra=checkpoint_extra(parts.spec, parts.text, trainer.config, trainer.generator),
        optimizer=trainer.optimizer,
    )
    args.out.write_bytes(data)
    print(
        f"step {trainer.step} in {time.perf_counter() - started:.1f} s, held-out loss "
        f"{heldout:.3f} (bigram bound shown in the app); wrote {args.out} ({len(data):,} bytes)"
    )
    print(
        f"import it: curl -X POST --data-binary @{args.out} http://127.0.0.1:8000/api/sessions/import"
    )
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except ValidationError as exc:  # a setting refused at start-up: say which, no traceback
        for error in exc.errors():
            name = "ATTNFLOW_" + ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            print(f"attnflow: {name}: {message}", file=sys.stderr)
        return 2
    if args.command == "train":
        return train(args)
    if args.command == "serve":
        return serve(args.host, args.port)
    settings = get_settings()
    return serve(settings.host, settings.port)


if __name__ == "__main__":
    sys.exit(main())
