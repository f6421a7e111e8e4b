"""Locating dataset files: the data directory, checksums, and downloads from the source.

Every reader asks for its files through :func:`dataset_file`, which finds the data
directory (argument, else ``KERASSEQ_DATA_DIR``), checks the file's SHA-256 against the
value kerasseq ships (the same as ``SHA256SUMS`` in the shared data folder), and fails with a
message that names the file and where to get it. With ``download=True`` a missing file is
fetched from its canonical source and verified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kerasseq.errors import DataError

DATA_DIR_ENV = "KERASSEQ_DATA_DIR"


@dataclass(frozen=True)
class RemoteFile:
    """A dataset file: its path under the data directory, checksum and canonical source."""

    path: str
    sha256: str
    url: str


# Files kerasseq reads, with the checksums of the shared copies (see the data README).
FILES = {
    f.path: f
    for f in [
        RemoteFile(
            "tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        ),
    ]
}

# Hashing is cheap but not free for large files: remember files already verified in this
# process by (path, size, mtime).
_VERIFIED: set[tuple[str, int, int]] = set()


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the data directory: ``data_dir`` if given, else ``$KERASSEQ_DATA_DIR``.

    Raises:
        DataError: neither is set, or the directory does not exist.
    """
    source = "the data_dir argument"
    if data_dir in (None, ""):
        data_dir = os.environ.get(DATA_DIR_ENV)
        source = f"${DATA_DIR_ENV}"
    if not data_dir:
        raise DataError(
            f"no data directory: pass --data-dir DIR or set {DATA_DIR_ENV} to the folder "
            "that holds the datasets (for example tinyshakespeare/input.txt)"
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"data directory {path} (from {source}) does not exist or is not a folder")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_file(relpath: str, data_dir=None, download: bool = False) -> Path:
    """Return the verified path of one dataset file.

    Args:
        relpath: path under the data directory, e.g. ``"tinyshakespeare/input.txt"``.
        data_dir: the data directory; defaults to ``$KERASSEQ_DATA_DIR``.
        download: fetch the file from its canonical source when it is missing.

    Raises:
        DataError: the file is missing (and not downloaded) or its checksum is wrong.
    """
    spec = FILES.get(relpath)
    if spec is None:
        raise DataError(f"unknown dataset file {relpath!r}; known: {', '.join(sorted(FILES))}")
    root = resolve_data_dir(data_dir)
    path = root / relpath
    if not path.is_file():
        if not download:
            raise DataError(
                f"{relpath} is missing from the data directory {root}; get it from "
                f"{spec.url} (or pass --download to fetch it)"
            )
        _download(spec, path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        actual = sha256_of(path)
        if actual != spec.sha256:
            raise DataError(
                f"{path} is corrupt or a different version: sha256 {actual[:12]}..., "
                f"expected {spec.sha256[:12]}...; replace it with the file from {spec.url}"
            )
        _VERIFIED.add(key)
    return path


def _download(spec: RemoteFile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(spec.url, timeout=60) as response:
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                shutil.copyfileobj(response, tmp)
    except OSError as exc:
        raise DataError(f"could not download {spec.url} to {path}: {exc}") from exc
    os.replace(tmp.name, path)
