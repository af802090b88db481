"""Build the two images with podman and save them as archives: `make images`.

    python deploy/images.py [--only serve|train] [--base IMAGE]

- Tags are `<package version>-<content digest>`: the digest covers everything the build copies
  (Dockerfile, pyproject, locks, src), so a changed tree never reuses an old tag.
- With no registry reachable, the base is made from Debian's own packages (debootstrap, the
  mirror apt uses here) unless `BASE_IMAGE` / `--base` names one (e.g. python:3.11-slim).
- pip inside the build sees this machine's pip configuration, CA bundle and local wheel
  folders through read-only build mounts; none of it is baked into a layer.
- Each image is saved as `var/images/sentiops-<target>-<tag>.tar` (what `minikube image load`
  takes) and `var/images/tags.json` records the tags for the runner and the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.podman import ROOT, PodmanError, ensure_installed, image_exists, podman  # noqa: E402

IMAGES_DIR = ROOT / "var" / "images"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
LOCAL_BASE = "localhost/sentiops-base:bookworm"
TARGETS = ("serve", "train")


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def content_digest() -> str:
    """sha256 over every file the build context copies, by path: the tag's second half."""
    digest = hashlib.sha256()
    files = [DOCKERFILE, ROOT / "pyproject.toml", ROOT / "README.md"]
    files += sorted(p for p in (ROOT / "requirements").rglob("*") if p.is_file())
    files += sorted(p for p in (ROOT / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def tag() -> str:
    return f"{version()}-{content_digest()}"


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 .sources or one-line format)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        found = re.search(r"^URIs:\s*(\S+)", path.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        found = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", legacy.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    return "http://deb.debian.org/debian"


def build_local_base() -> str:
    """Debian bookworm minbase with python3, trimmed of docs, locales and apt lists."""
    if image_exists(LOCAL_BASE):
        return LOCAL_BASE
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sentiops-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates"]
            + ["bookworm", str(rootfs), apt_mirror()],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for folder in ("usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt", "var/lib/apt/lists"):
            subprocess.run(["rm", "-rf", str(rootfs / folder)], check=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        podman("import", "--change", 'CMD ["/bin/bash"]', "-", LOCAL_BASE, stdin=tar.stdout, capture=True)
        tar.wait()
    print(f"base image {LOCAL_BASE} built in {time.monotonic() - started:.0f} s", flush=True)
    return LOCAL_BASE


def pip_mounts() -> list[str]:
    """Read-only build mounts for pip's configuration files and every local path they name."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list", "-v"], capture_output=True, text=True, check=False
    ).stdout
    paths: set[Path] = set()
    for line in listing.splitlines():
        loaded = re.match(r"For variant '\w+', will try loading '(.+)'", line)
        if loaded:
            paths.add(Path(loaded.group(1)))
            continue
        setting = re.match(r"[^=]+\.(cert|constraint|find-links|extra-index-url|index-url)='(.*)'", line)
        if setting:
            paths.update(_local_paths(setting.group(1), setting.group(2)))
    for name in ("cert", "find-links", "constraint", "extra-index-url", "index-url"):
        paths.update(_local_paths(name, os.environ.get("PIP_" + name.upper().replace("-", "_"), "")))
    mounts = []
    for path in sorted(p for p in paths if p.is_absolute() and p.exists()):
        target = path
        if path.is_relative_to(Path.home()):  # the build runs as root: its home is /root
            target = Path("/root") / path.relative_to(Path.home())
        mounts += ["--volume", f"{path}:{target}:ro"]
    return mounts


def _local_paths(setting: str, value: str) -> list[Path]:
    found = [Path(v.removeprefix("file://")) for v in value.split() if not re.match(r"https?://", v)]
    # A local simple index links to files beside it (../files/...): mount the folder above it.
    return [p.parent if setting.endswith("index-url") else p for p in found]


def build(target: str, base: str, image_tag: str, retries: int = 2) -> str:
    name = f"localhost/sentiops-{target}:{image_tag}"
    mounts = pip_mounts()
    args = ["build", "--network", "host", "--target", target, "--build-arg", f"BASE_IMAGE={base}"]
    # With a local pip configuration mounted, pip finds torch's CPU wheel where this machine's
    # pip does; otherwise the Dockerfile's default (PyTorch's CPU index) applies.
    torch_index = os.environ.get("TORCH_INDEX_URL", "" if mounts else None)
    if torch_index is not None:
        args += ["--build-arg", f"TORCH_INDEX_URL={torch_index}"]
    args += [*mounts, "--tag", name, "--file", str(DOCKERFILE), str(ROOT)]
    for attempt in range(retries + 1):
        started = time.monotonic()
        result = podman(*args, check=False)
        if result.returncode == 0:
            print(f"{name} built in {time.monotonic() - started:.0f} s", flush=True)
            return name
        # Storage hiccups ("read/write on closed pipe" while committing a large layer) pass on retry.
        print(f"build of {name} failed (exit {result.returncode}), attempt {attempt + 1}", file=sys.stderr, flush=True)
        podman("image", "prune", "--force", check=False, capture=True)
    raise PodmanError(f"podman build of {name} failed {retries + 1} times")


def save(names: list[str], target: str, image_tag: str) -> Path:
    """One docker-archive holding the image under all its names (what `minikube image load` takes)."""
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    archive = IMAGES_DIR / f"sentiops-{target}-{image_tag}.tar"
    partial = archive.with_suffix(".tar.partial")
    partial.unlink(missing_ok=True)
    podman("save", "--format", "docker-archive", "--output", str(partial), *names, capture=True)
    partial.replace(archive)
    for old in IMAGES_DIR.glob(f"sentiops-{target}-*.tar"):  # archives of earlier builds
        if old != archive:
            old.unlink()
    return archive


def image_size(name: str) -> int:
    out = podman("image", "inspect", "--format", "{{.Size}}", name, capture=True).stdout
    return int(out.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=TARGETS, action="append", help="build only this target (repeatable)")
    parser.add_argument("--base", default=os.environ.get("BASE_IMAGE", ""), help="base image (default: local Debian)")
    parser.add_argument("--no-save", action="store_true", help="skip writing the archives under var/images/")
    args = parser.parse_args(argv)
    ensure_installed()
    base = args.base or build_local_base()
    image_tag = tag()
    built: dict[str, dict[str, object]] = {}
    tags_file = IMAGES_DIR / "tags.json"
    if tags_file.exists():
        built = json.loads(tags_file.read_text())
    for target in args.only or TARGETS:
        name = f"localhost/sentiops-{target}:{image_tag}"
        if not image_exists(name):
            build(target, base, image_tag)
        # The manifests name the version tag; the digest tag says exactly which build it is.
        versioned = f"localhost/sentiops-{target}:{version()}"
        podman("tag", name, versioned, capture=True)
        entry: dict[str, object] = {"image": name, "manifest_image": versioned, "size_bytes": image_size(name)}
        if not args.no_save:
            entry["archive"] = str(save([name, versioned], target, image_tag).relative_to(ROOT))
        built[target] = entry
        print(f"{name}: {entry['size_bytes'] / 1e6:.0f} MB", flush=True)
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    tags_file.write_text(json.dumps(built, indent=2) + "\n")
    remove_old_builds({str(entry["image"]) for entry in built.values()})
    return 0


def remove_old_builds(keep: set[str]) -> None:
    """Earlier builds' tags and the dangling build stages they leave, so the store stays bounded."""
    listing = podman("images", "--format", "{{.Repository}}:{{.Tag}}", capture=True).stdout.split()
    for name in listing:
        repository, _, image_tag = name.rpartition(":")
        if repository in {f"localhost/sentiops-{t}" for t in TARGETS} and name not in keep and "-" in image_tag:
            podman("rmi", name, check=False, capture=True)
    podman("image", "prune", "--force", check=False, capture=True)


if __name__ == "__main__":
    sys.exit(main())
