"""model/corpora/generate.py loaded by path (the corpora folder is data, not a package)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from model.data import CORPUS_DIR


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("corpora_generate", CORPUS_DIR / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generate = _load_generator()
