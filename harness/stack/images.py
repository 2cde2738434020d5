"""The docker backend's images: the base, built offline when it cannot be pulled, and cached builds.

Every Dockerfile in ``stacks/images/<name>/`` starts ``FROM
debian:trixie-slim``, so users online and CI without a registry build from the
same files. ``ensure_base`` pulls that image, or, when no registry answers,
makes it from the apt mirror this machine is configured with
(``mmdebstrap --variant=minbase trixie``, documentation left out as the slim
image does) and ``docker import``s it under the same name.

``ensure_image`` builds ``stacks/images/<name>/`` into
``connlab/<name>:<hash>``, the hash being of the build context's files (paths,
modes, contents): a second call finds the tag and builds nothing. While it
builds it reports each ``Step N/M`` line through ``say``. Every image carries
the label ``connlab=1``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.assets import APPS_DIR
from harness.errors import MissingDependency, StackError

if TYPE_CHECKING:
    import docker

Say = Callable[[str], None]

BASE_REPOSITORY = "debian"
BASE_TAG = "trixie-slim"
BASE = f"{BASE_REPOSITORY}:{BASE_TAG}"
BASE_SUITE = "trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
IMAGE_REPOSITORY = "connlab"
LABEL = "connlab"
HASH_LENGTH = 12
#: What the slim image leaves out, left out of the offline base too (copyright files stay).
SLIM_DPKG_OPTIONS = ("path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
                     "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
                     "path-exclude=/usr/share/locale/*")
_STEP = re.compile(r"^Step \d+/\d+ : ")


@dataclass(frozen=True)
class Built:
    """An image ``ensure_*`` made or found: its tag, whether it was built now, and how long that took."""

    tag: str
    built: bool
    seconds: float


def images_dir() -> Path:
    return APPS_DIR / "images"


def context_hash(context: Path) -> str:
    """A hash of every file under ``context``: relative path, executable bit and contents."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(b"x" if path.stat().st_mode & 0o111 else b"-")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:HASH_LENGTH]


def image_tag(name: str) -> str:
    return f"{IMAGE_REPOSITORY}/{name}:{context_hash(images_dir() / name)}"


def _has_image(client: docker.DockerClient, reference: str) -> bool:
    import docker.errors

    try:
        client.images.get(reference)
        return True
    except docker.errors.ImageNotFound:
        return False


def apt_mirror(sources: tuple[Path, ...] = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))) -> str:
    """The Debian mirror this machine's apt sources name (not the security archive), or deb.debian.org."""
    files: list[Path] = []
    for source in sources:
        files += sorted(source.glob("*")) if source.is_dir() else [source]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if path.suffix == ".sources" and words[:1] == ["URIs:"]:
                uris = words[1:]
            elif words[:1] == ["deb"]:
                uris = [w for w in words[1:] if "://" in w][:1]
            else:
                continue
            for uri in uris:
                if "security" not in uri and uri.startswith(("http://", "https://")):
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


def _pull_base(client: docker.DockerClient) -> bool:
    import docker.errors

    try:
        client.images.pull(BASE_REPOSITORY, tag=BASE_TAG)
        return True
    except docker.errors.DockerException:
        return False


def build_base_offline(client: docker.DockerClient, say: Say) -> None:
    """mmdebstrap a minbase trixie from the host's apt mirror and import it as ``debian:trixie-slim``."""
    if shutil.which("mmdebstrap") is None:
        raise MissingDependency(f"{BASE} cannot be pulled and mmdebstrap is missing to build it offline: "
                                "apt-get install mmdebstrap")
    mirror = apt_mirror()
    say(f"{BASE} cannot be pulled: building it from {mirror} (mmdebstrap, about 20 s)")
    with tempfile.TemporaryDirectory(prefix="connlab-base-") as folder:
        tarball = Path(folder) / "rootfs.tar"
        argv = ["mmdebstrap", "--variant=minbase", "--quiet"]
        argv += [f"--dpkgopt={option}" for option in SLIM_DPKG_OPTIONS]
        argv += [BASE_SUITE, str(tarball), mirror]
        made = subprocess.run(argv, capture_output=True, text=True, check=False)
        if made.returncode != 0:
            tail = " | ".join(made.stderr.strip().splitlines()[-3:]) or "(no output)"
            raise StackError(f"mmdebstrap could not build {BASE} from {mirror}: {tail}")
        # from the file, not a stream: 20.10 refuses the SDK's chunked upload ("header line too long")
        client.api.import_image_from_file(str(tarball), repository=BASE_REPOSITORY, tag=BASE_TAG,
                                          changes=[f"LABEL {LABEL}=1", 'CMD ["bash"]'])
    if not _has_image(client, BASE):
        raise StackError(f"docker import of the offline {BASE} left no image")


def ensure_base(client: docker.DockerClient, say: Say) -> Built:
    """``debian:trixie-slim``: present, pulled, or built offline (the same name in every case)."""
    began = time.monotonic()
    if _has_image(client, BASE):
        return Built(BASE, False, time.monotonic() - began)
    if not _pull_base(client):
        build_base_offline(client, say)
    seconds = time.monotonic() - began
    say(f"{BASE} ready in {seconds:.1f} s")
    return Built(BASE, True, seconds)


def _build(client: docker.DockerClient, context: Path, tag: str, say: Say) -> None:
    """Build ``context`` into ``tag``, saying each step; StackError with the log's tail on failure."""
    tail: list[str] = []
    stream: Any = client.api.build(path=str(context), tag=tag, labels={LABEL: "1"}, rm=True, forcerm=True,
                                   pull=False, decode=True)
    for chunk in stream:
        if "error" in chunk:
            detail = " | ".join(line.strip() for line in tail[-5:] if line.strip())
            raise StackError(f"building {tag} failed: {str(chunk['error']).strip()}; last lines: {detail}")
        for line in str(chunk.get("stream", "")).splitlines():
            tail = (tail + [line])[-20:]
            if _STEP.match(line):
                say(f"  {tag}: {line}")


def ensure_image(client: docker.DockerClient, name: str, say: Say) -> Built:
    """``connlab/<name>:<hash>`` built from ``stacks/images/<name>/``, or found when already built."""
    context = images_dir() / name
    if not (context / "Dockerfile").is_file():
        raise ValueError(f"no Dockerfile in {context}")
    began = time.monotonic()
    tag = image_tag(name)
    if _has_image(client, tag):
        return Built(tag, False, time.monotonic() - began)
    ensure_base(client, say)
    say(f"building {tag} (first run only)")
    _build(client, context, tag, say)
    seconds = time.monotonic() - began
    say(f"built {tag} in {seconds:.1f} s")
    return Built(tag, True, seconds)


#: Pure-Python packages of the twin's that the image takes from connlab's own environment (the app layer's
#: /opt/vendor, on the runtime image's PYTHONPATH), so no build downloads anything: dramatiq, which Debian does
#: not package, and gunicorn, whose Debian version (23) serves one request fewer at a time than its threads
#: (stacks/images/python/Dockerfile).
#: Django: Debian trixie's python3-django is 4.2, without the native pool (5.1+); asgiref and sqlparse go with it
VENDORED: dict[str, tuple[str, ...]] = {"python": ("dramatiq", "gunicorn", "django", "asgiref", "sqlparse")}


def _package_dir(package: str) -> Path:
    """Where an installed pure-Python package lives (its ``__init__``'s folder)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise MissingDependency(f"the Python twin's image needs {package} installed beside connlab: "
                                f"pip install {package}")
    return Path(spec.origin).parent


def ensure_app_image(client: docker.DockerClient, app: str, say: Say) -> Built:
    """``connlab/<app>-app:<hash>``: the app's runtime image plus ``stacks/<app>/`` at /app, cached by hash.

    The runtime image (``stacks/images/<app>/``: gems or packages only) changes seldom; the app layer on
    top is one COPY (plus the ``VENDORED`` packages), rebuilt in about a second when the app's files change.
    """
    runtime = ensure_image(client, app, say)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"connlab-{app}-app-") as folder:
        context = Path(folder)
        ignore = shutil.ignore_patterns("__pycache__", "*.log", "*.pyc")
        shutil.copytree(APPS_DIR / app, context / "app", ignore=ignore)
        dockerfile = f"FROM {runtime.tag}\nCOPY app /app\nWORKDIR /app\n"
        vendor = VENDORED.get(app, ())
        if vendor:
            # without translation catalogs (Django's .po and .mo: half of its 40 MB; the twin runs with USE_I18N off)
            vendor_ignore = shutil.ignore_patterns("__pycache__", "*.log", "*.pyc", "*.po", "*.mo")
            for package in vendor:
                shutil.copytree(_package_dir(package), context / "vendor" / package, ignore=vendor_ignore)
            dockerfile += "COPY vendor /opt/vendor\n"
        (context / "Dockerfile").write_text(dockerfile)
        digest = hashlib.sha256(f"{runtime.tag} {context_hash(context)}".encode()).hexdigest()[:HASH_LENGTH]
        tag = f"{IMAGE_REPOSITORY}/{app}-app:{digest}"
        if _has_image(client, tag):
            return Built(tag, False, time.monotonic() - began)
        say(f"building {tag}")
        _build(client, context, tag, say)
    return Built(tag, True, time.monotonic() - began)
