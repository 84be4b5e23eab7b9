"""Moving models between registries: ``export`` writes a version as a tar (or a folder),
``pull`` downloads one, checks its SHA-256 and registers it.

The tar holds the codec folder's files and ``card.json``, each a plain file at the top level,
written in a fixed order with zeroed owners and times, so exporting the same version twice gives
the same bytes (and the same SHA-256 to publish beside it). ``pull`` reads at most
:data:`MAX_PULL_BYTES`, refuses a download whose SHA-256 is not the one given, and extracts only
the file names a model folder may hold: no paths, links or devices from an archive reach disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ratecraft.atomic import atomic_write
from ratecraft.errors import BadInputError
from ratecraft.registry.card import card_markdown
from ratecraft.registry.protocol import ModelRegistry, VersionInfo
from ratecraft.registry.store import MODEL_FILES

__all__ = ["MAX_PULL_BYTES", "export_version", "pull"]

MAX_PULL_BYTES = 2 << 30
CARD_FILES = ("card.json",)
_TIMEOUT_S = 60.0


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def export_version(
    registry: ModelRegistry, ref: str, target: Path
) -> tuple[VersionInfo, str | None]:
    """Write version ``ref`` to ``target``: a ``.tar`` (returns its SHA-256) or a new folder
    (the codec folder plus ``card.json`` and ``card.md``)."""
    info = registry.get(ref)
    card = json.dumps(info.card, indent=1, sort_keys=True).encode()
    if target.suffix == ".tar":
        with registry.checkout(info) as folder:
            files = {f.name: f.read_bytes() for f in folder.iterdir()}
        files["card.json"] = card
        blob = _tar_bytes(files)
        atomic_write(target, blob)
        return info, hashlib.sha256(blob).hexdigest()
    registry.copy_out(info, target)
    (target / "card.json").write_bytes(card)
    (target / "card.md").write_text(card_markdown(info.card, info.ref), encoding="utf-8")
    return info, None


def _download(url: str, limit: int) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise BadInputError(f"{url}: pull takes an http:// or https:// URL")
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp:
            declared = resp.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BadInputError(f"{url}: {int(declared):,} bytes is over the {limit:,} limit")
            data: bytes = resp.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise BadInputError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BadInputError(f"{url}: cannot download ({reason})") from None
    if len(data) > limit:
        raise BadInputError(f"{url}: over the {limit:,}-byte limit")
    return data


def _extract(blob: bytes, folder: Path) -> dict[str, Any]:
    """Unpack a model tar into ``folder``; the card it carries (or an empty one)."""
    allowed = set(MODEL_FILES) | set(CARD_FILES)
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.name not in allowed:
                    raise BadInputError(
                        f"the archive holds {member.name!r}, which is not a model file "
                        f"({', '.join(sorted(allowed))})"
                    )
                handle = tar.extractfile(member)
                assert handle is not None
                (folder / member.name).write_bytes(handle.read())
    except tarfile.TarError as exc:
        raise BadInputError(f"not a model archive ({exc})") from None
    card_path = folder / "card.json"
    if not card_path.is_file():
        return {}
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BadInputError(f"the archive's card.json is not JSON ({exc})") from None
    card_path.unlink()
    return card if isinstance(card, dict) else {}


def pull(
    registry: ModelRegistry,
    url: str,
    sha256: str,
    name: str,
    *,
    aliases: tuple[str, ...] = (),
    who: str | None = None,
    limit: int = MAX_PULL_BYTES,
) -> VersionInfo:
    """Download the model tar at ``url``, check it hashes to ``sha256``, register it as ``name``."""
    want = sha256.lower().removeprefix("sha256:")
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise BadInputError(f"--sha256 {sha256!r} is not a SHA-256 in hex")
    blob = _download(url, limit)
    got = hashlib.sha256(blob).hexdigest()
    if got != want:
        raise BadInputError(f"{url}: SHA-256 is {got}, not the {want} given; nothing registered")
    with tempfile.TemporaryDirectory(prefix="rc-pull-") as tmp:
        card = _extract(blob, Path(tmp))
        return registry.register(
            tmp,
            name,
            card=card,
            aliases=aliases,
            source=url,
            who=who,
            why=f"pulled from {url}",
            metrics={"sha256": got, "bytes": len(blob)},
        )
