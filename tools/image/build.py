"""Build layerviz's own image, ``layerviz:latest``, on a machine that cannot pull anything.

    python3 dev.py image [--rebuild-base]    # the same as python3 tools/image/build.py

1. The base, ``layerviz-base:bookworm``, made here since nothing can be pulled (``base``);
2. ``docker build`` of the Dockerfile on it, with the classic builder (a plain Debian docker.io
   engine has no BuildKit) and the engine's layer cache (``image``).

The engine is the one ``DOCKER_HOST`` names (else /var/run/docker.sock).

``layerviz-base:bookworm`` is Debian 12 as ``debootstrap --variant=minbase`` installs it, plus
Debian's ``python3`` (3.11), slimmed as Debian's own ``bookworm-slim`` image is: no manuals,
documentation or translations (and dpkg told to leave them out of later installs too), apt's
package lists and caches emptied. It is ``docker import``ed as one layer, with a label holding
a hash of its recipe: a rerun whose recipe did not change does nothing. The downloaded ``.deb``
files are kept in ``var/image/debs`` so that a rebuild reads them instead of the mirror.

The build reaches Debian's mirror and PyPI as this machine does: ``--network host``, pip's
index (``PIP_INDEX_URL`` or pip's configured ``global.index-url``, when set), the proxy
variables as Docker's predefined proxy build args (kept out of the history), and, where
outbound TLS is intercepted, the CAs added to this machine
(``/usr/local/share/ca-certificates``, or the files in ``LAYERVIZ_IMAGE_EXTRA_CA``) for the
builder stage's pip: public certificates, in a stage whose layers the image does not keep.

Only the standard library: ``dev.py image`` runs this before any virtual environment exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "var" / "image"
BASE = "layerviz-base:bookworm"
IMAGE = "layerviz:latest"
SUITE = "bookworm"
MIRROR = os.environ.get("LAYERVIZ_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("python3",)
LABEL = "layerviz.base.recipe"
ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    # Debian's minbase has no locales package; C.UTF-8 is built into its libc.
    "LANG=C.UTF-8",
)
# What Debian's slim images leave out (debuerreotype's --slim), as dpkg path excludes: written
# into the rootfs, so that an ``apt-get install`` on this base leaves them out too.
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
"""
# Emptied after debootstrap: apt's lists and caches (a build runs apt-get update itself, as on
# Debian's official images); removed: the logs of the installs and debconf's backups.
EMPTIED = ("var/lib/apt/lists", "var/cache/apt")
REMOVED = ("var/log/*.log", "var/log/apt/*", "var/cache/debconf/*-old", "var/lib/dpkg/*-old")


def recipe() -> str:
    text = json.dumps([SUITE, "minbase", MIRROR, PACKAGES, ENV, DPKG_EXCLUDES, EMPTIED, REMOVED])
    return hashlib.sha256(text.encode()).hexdigest()


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], text=True, **kwargs)


def label(ref: str) -> str | None:
    done = docker("image", "inspect", ref, capture_output=True)
    if done.returncode:
        return None
    config = json.loads(done.stdout)[0].get("Config") or {}
    return (config.get("Labels") or {}).get(LABEL)


def problem() -> str | None:
    """Why the base is not there and cannot be made here, or None."""
    return None if label(BASE) == recipe() else cannot_make()


def cannot_make() -> str | None:
    """Why debootstrap cannot make a base on this machine, or None (the benchmarks' base too)."""
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed (apt install debootstrap); it makes the base image"
    if os.geteuid() != 0:
        return "debootstrap must run as root to make the base image"
    return None


def unmount_under(path: Path) -> None:
    """Unmount whatever is mounted at or below PATH, deepest first."""
    # debootstrap mounts /proc and /sys inside the target while it installs; if it died, they
    # may still be mounted, and deleting the tree must not descend into the host's /proc.
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in sorted(points, key=len, reverse=True):
        if point == str(path) or point.startswith(f"{path}/"):
            subprocess.run(["umount", "-l", point], check=False)


def _slim(rootfs: Path) -> None:
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
    for pattern in ("usr/share/info/*", "usr/share/man/*", "usr/share/groff/*"):
        for path in rootfs.glob(pattern):
            _remove(path)
    for path in rootfs.glob("usr/share/locale/*"):
        _remove(path)
    for package in rootfs.glob("usr/share/doc/*"):
        if package.is_dir() and not package.is_symlink():
            for path in package.iterdir():
                if path.name != "copyright":
                    _remove(path)
    for pattern in REMOVED:
        for path in rootfs.glob(pattern):
            _remove(path)
    for rel in EMPTIED:
        target = rootfs / rel
        for child in target.iterdir() if target.is_dir() else ():
            _remove(child)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def base(*, rebuild: bool = False) -> str:
    """Make ``BASE`` unless an image of the same recipe is there; its reference.

    1. debootstrap minbase with python3 into a temporary directory (the .debs cached);
    2. slim it (``_slim``);
    3. tar it with numeric owners and ``docker import`` it, with the recipe as a label.
    """
    wanted = recipe()
    if not rebuild and label(BASE) == wanted:
        return BASE
    if why := cannot_make():
        raise RuntimeError(why)
    debs = WORK / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=WORK))
    rootfs = work / "rootfs"
    log = WORK / "base.log"
    print(f"making {BASE} with debootstrap (log: {log}) ...", file=sys.stderr, flush=True)
    try:
        with open(log, "w") as out:
            cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
            cmd += [f"--cache-dir={debs}", SUITE, str(rootfs), MIRROR]
            _run(cmd, out)
            unmount_under(rootfs)
            _slim(rootfs)
            archive = work / "rootfs.tar"
            _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], out)
            changes = [f"LABEL {LABEL}={wanted}", *(f"ENV {e}" for e in ENV), 'CMD ["python3"]']
            cmd = ["docker", "import"]
            for change in changes:
                cmd += ["--change", change]
            _run([*cmd, str(archive), BASE], out)
    finally:
        unmount_under(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    return BASE


def _run(cmd: list[str], out) -> None:
    out.write(f"$ {' '.join(cmd)}\n")
    out.flush()
    done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = "\n".join(Path(out.name).read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{cmd[0]} failed (exit {done.returncode}); see {out.name}:\n{tail}")


PROXY_ARGS = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


def extra_ca_pem(variable: str = "LAYERVIZ_IMAGE_EXTRA_CA") -> str:
    """The CAs this machine trusts beyond Debian's bundle, as PEM: the files ``variable`` names
    (separated by os.pathsep), else /usr/local/share/ca-certificates; "" when there are none.
    Where TLS to the package registries is intercepted, a build's downloads need them."""
    named = os.environ.get(variable)
    if named is not None:
        files = [Path(p) for p in named.split(os.pathsep) if p]
    else:
        files = sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []
    return "".join(p.read_text().strip() + "\n" for p in files if p.is_file())


def _pip_index() -> str:
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def proxy_build_args() -> list[str]:
    """Docker's predefined proxy build args for the proxy variables set here: the CLI takes
    their values from the environment, and the builder keeps them out of the history."""
    args: list[str] = []
    for name in PROXY_ARGS:
        for spelled in (name, name.lower()):
            if os.environ.get(spelled):
                args += ["--build-arg", spelled]
    return args


def build_args() -> list[str]:
    """How the build reaches the mirror and PyPI: not what the image holds."""
    args = ["--build-arg", f"BASE={BASE}", *proxy_build_args()]
    if index := _pip_index():
        args += ["--build-arg", f"PIP_INDEX_URL={index}"]
    if pem := extra_ca_pem():
        args += ["--build-arg", f"EXTRA_CA_PEM={pem}"]
    return args


def image(*, rebuild_base: bool = False, tag: str = IMAGE) -> str:
    """Build ``tag`` from the Dockerfile on the base (made first when missing); its image ID.

    Output goes to this process's stdout and stderr: a build takes minutes the first time.
    """
    base(rebuild=rebuild_base)
    cmd = ["docker", "build", "--network", "host", "--rm", "--force-rm", "-t", tag]
    cmd += [*build_args(), str(ROOT)]
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    done = subprocess.run(cmd, env=env)
    if done.returncode:
        raise RuntimeError(f"docker build of {tag} failed (exit {done.returncode})")
    inspect = docker("image", "inspect", "--format", "{{.Id}}", tag, capture_output=True)
    return inspect.stdout.strip()


def main(argv: list[str]) -> int:
    try:
        image_id = image(rebuild_base="--rebuild-base" in argv)
    except RuntimeError as exc:
        print(f"dev.py image: {exc}", file=sys.stderr)
        return 1
    print(f"{IMAGE} {image_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
