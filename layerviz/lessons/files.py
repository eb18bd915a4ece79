"""The files the lesson images are made of, named and sized as Debian, pip and npm lay them out.

A file is a ``Spec`` (path, size, kind); its bytes come from ``content``, seeded by its path, so
they are the same on every run and every machine. The kind says what the bytes look like to a
compressor, because compressed sizes are part of what the lessons show:

* ``text`` — source, configuration, documentation: lines of words, compressing about 3:1;
* ``elf`` — executables and shared libraries: mostly noise with some structure, as real
  machine code compresses a little;
* ``packed`` — what is already compressed (``.gz``, ``.deb``, wheels, git packs, lists):
  noise, which no compressor shrinks.

``scale`` divides every size: the offline set uses 1, ``--build`` a larger number so that the
engine copies little (the names and the shape stay; only the bytes shrink).
Nothing here imports Django.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
import zlib
from collections.abc import Iterable

from layerviz.lib.tarwriter import Entry, directory, file, symlink

TEXT, ELF, PACKED, DIR, LINK = "text", "elf", "packed", "dir", "link"
MTIME = 1_700_000_000  # what dpkg, pip wheels and a checked-out context leave: one fixed time
LIB = "usr/lib/x86_64-linux-gnu"
SITE = "usr/local/lib/python3.12/dist-packages"


@dataclasses.dataclass(frozen=True)
class Spec:
    path: str
    size: int = 0
    kind: str = TEXT
    mode: int = 0o644
    target: str = ""  # of a symlink


def content(spec: Spec, scale: int = 1) -> bytes:
    size = max(spec.size // scale, 1) if spec.size else 0
    return _bytes(spec.path, size, spec.kind)


@functools.lru_cache(maxsize=4096)
def _bytes(path: str, size: int, kind: str) -> bytes:
    rng = random.Random(zlib.crc32(path.encode()))
    if kind == TEXT:
        return _text(rng, size)
    if kind == ELF:
        # An ELF header, then noise with runs of zeros and symbol names: about 1.5:1.
        head = b"\x7fELF\x02\x01\x01" + bytes(9)
        noisy = rng.randbytes(size * 2 // 3)
        rest = max(size - len(noisy) - len(head), 0)
        return (head + noisy + _text(rng, rest // 2) + bytes(rest - rest // 2))[:size]
    return rng.randbytes(size)


_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "this",
    "be",
    "are",
    "from",
    "or",
    "an",
    "it",
    "not",
    "at",
    "which",
    "can",
    "return",
    "self",
    "value",
    "if",
    "else",
    "def",
    "import",
    "class",
    "function",
    "const",
    "var",
    "let",
    "package",
    "config",
    "error",
    "file",
    "path",
    "name",
    "data",
    "string",
    "list",
    "int",
    "bool",
    "none",
    "true",
    "false",
    "test",
    "copyright",
    "license",
    "debian",
    "python",
    "install",
    "build",
    "layer",
    "image",
    "version",
    "default",
    "option",
    "user",
    "system",
    "module",
    "object",
    "type",
    "printf",
    "include",
    "struct",
    "static",
    "void",
    "char",
    "unsigned",
    "size_t",
    "buffer",
    "index",
    "request",
    "response",
]


@functools.cache
def _lines() -> tuple[bytes, ...]:
    rng = random.Random(0)
    return tuple(
        (" " * rng.choice((0, 0, 4, 8)) + " ".join(rng.choices(_WORDS, k=rng.randint(2, 12))))
        .encode()
        .rstrip()
        + b"\n"
        for _ in range(3000)
    )


def _text(rng: random.Random, size: int) -> bytes:
    if size <= 0:
        return b""
    lines = _lines()
    out = b"".join(rng.choices(lines, k=size // 38 + 2))
    while len(out) < size:
        out += b"".join(rng.choices(lines, k=64))
    return out[: size - 1] + b"\n"


def entries(specs: Iterable[Spec], *, scale: int = 1, mtime: int = MTIME) -> list[Entry]:
    """Tar entries of ``specs`` (contents at ``scale``), every one at ``mtime``."""
    out = []
    for spec in specs:
        if spec.kind == DIR:
            out.append(directory(spec.path, mode=spec.mode or 0o755, mtime=mtime))
        elif spec.kind == LINK:
            out.append(symlink(spec.path, spec.target, mtime=mtime))
        else:
            out.append(file(spec.path, content(spec, scale), mode=spec.mode, mtime=mtime))
    return out


def _vary(path: str, size: int) -> int:
    # Sizes of one kind spread out (0.5x to 1.5x) the way real ones do, but seeded.
    return max(1, int(size * (0.5 + (zlib.crc32(path.encode()) % 1000) / 1000)))


# --- Debian packages ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Package:
    name: str
    version: str
    files: tuple[Spec, ...]

    @property
    def stanza(self) -> bytes:
        """Its paragraph of ``/var/lib/dpkg/status``."""
        size = sum(s.size for s in self.files) // 1024
        return (
            f"Package: {self.name}\nStatus: install ok installed\nPriority: optional\n"
            f"Installed-Size: {size}\nMaintainer: Debian Developers "
            f"<debian-devel@lists.debian.org>\nArchitecture: amd64\nVersion: {self.version}\n"
            f"Description: {self.name} (lesson package)\n\n"
        ).encode()

    @property
    def deb(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_amd64.deb"


LANGS = ["de", "es", "fr", "ja", "ru", "zh_CN"]


# The setuid and setgid programs Debian 12's essential packages install, with its modes: what
# a reviewer's first look for privileged files finds in a real base.
SETID = {
    **dict.fromkeys(
        ["usr/bin/passwd", "usr/bin/chfn", "usr/bin/chsh", "usr/bin/gpasswd", "usr/bin/newgrp"],
        0o4755,
    ),
    **dict.fromkeys(["usr/bin/mount", "usr/bin/umount"], 0o4755),
    **dict.fromkeys(["usr/bin/chage", "usr/bin/expiry"], 0o2755),
}


def deb(
    name: str,
    version: str,
    *,
    bins: str = "",
    sbins: str = "",
    libs: str = "",
    locales: int = 0,
    share: Iterable[Spec] = (),
    manual: bool = True,
) -> Package:
    """A package as dpkg unpacks it. ``bins``/``sbins``/``libs`` are ``"name:KiB ..."``;
    ``locales`` message catalogues of that many KiB in every language."""
    specs: list[Spec] = []
    for folder, listing in (("usr/bin", bins), ("usr/sbin", sbins)):
        for item in listing.split():
            exe, _, kib = item.partition(":")
            path = f"{folder}/{exe}"
            specs.append(Spec(path, _vary(exe, int(kib) * 1024), ELF, SETID.get(path, 0o755)))
            if manual:
                section = 1 if folder == "usr/bin" else 8
                page = f"usr/share/man/man{section}/{exe}.{section}.gz"
                specs.append(Spec(page, _vary(page, 3000), PACKED))
    for item in libs.split():
        lib, _, kib = item.partition(":")
        specs.append(Spec(f"{LIB}/{lib}", _vary(lib, int(kib) * 1024), ELF))
    if locales:
        for lang in LANGS:
            mo = f"usr/share/locale/{lang}/LC_MESSAGES/{name}.mo"
            specs.append(Spec(mo, _vary(mo, locales * 1024)))
    specs += share
    docs = f"usr/share/doc/{name}"
    specs += [
        Spec(f"{docs}/copyright", _vary(docs, 6000)),
        Spec(f"{docs}/changelog.Debian.gz", _vary(docs + "/c", 4000), PACKED),
    ]
    return Package(name, version, tuple(specs))


def dpkg_info_entries(package: Package, mtime: int) -> list[Entry]:
    # Their bytes are the real listing, not filler: a person opening them sees the package.
    paths = sorted({s.path for s in package.files})
    listing = "".join(f"/{p}\n" for p in paths).encode()
    sums = "".join(f"{hashlib.md5(p.encode()).hexdigest()}  {p}\n" for p in paths).encode()
    info = f"var/lib/dpkg/info/{package.name}"
    return [file(f"{info}.list", listing, mtime=mtime), file(f"{info}.md5sums", sums, mtime=mtime)]


def _many(folder: str, names: str, size: int, kind: str = TEXT, ext: str = "") -> list[Spec]:
    return [Spec(f"{folder}/{n}{ext}", _vary(n + folder, size), kind) for n in names.split()]


COREUTILS = (
    "arch b2sum base32 base64 basename basenc cat chcon chgrp chmod chown cksum comm cp csplit "
    "cut date dd df dir dircolors dirname du echo env expand expr factor false fmt fold groups "
    "head hostid id install join link ln logname ls md5sum mkdir mkfifo mknod mktemp mv nice nl "
    "nohup nproc numfmt od paste pathchk pinky pr printenv printf ptx pwd readlink realpath rm "
    "rmdir runcon seq sha1sum sha224sum sha256sum sha384sum sha512sum shred shuf sleep sort "
    "split stat stdbuf stty sum sync tac tail tee test timeout touch tr true truncate tsort tty "
    "uname unexpand uniq unlink users vdir wc who whoami yes"
)
ZONES = (
    "Africa:Abidjan,Accra,Addis_Ababa,Algiers,Cairo,Casablanca,Johannesburg,Lagos,Nairobi,Tunis "
    "America:Anchorage,Bogota,Chicago,Denver,Halifax,Lima,Los_Angeles,Mexico_City,New_York,"
    "Phoenix,Santiago,Sao_Paulo,Toronto,Vancouver "
    "Asia:Bangkok,Dubai,Hong_Kong,Jakarta,Jerusalem,Karachi,Kolkata,Manila,Seoul,Shanghai,"
    "Singapore,Taipei,Tehran,Tokyo "
    "Australia:Adelaide,Brisbane,Darwin,Hobart,Melbourne,Perth,Sydney "
    "Europe:Amsterdam,Athens,Berlin,Brussels,Bucharest,Budapest,Dublin,Helsinki,Istanbul,Kyiv,"
    "Lisbon,London,Madrid,Moscow,Oslo,Paris,Prague,Rome,Stockholm,Vienna,Warsaw,Zurich "
    "Pacific:Auckland,Fiji,Guam,Honolulu,Tahiti"
)


def _zoneinfo() -> list[Spec]:
    specs = []
    for tree in ("", "posix/", "right/"):
        for group in ZONES.split():
            region, _, cities = group.partition(":")
            for city in cities.split(","):
                path = f"usr/share/zoneinfo/{tree}{region}/{city}"
                specs.append(Spec(path, _vary(path, 2200), PACKED))
    return [*specs, Spec("usr/share/zoneinfo/zone1970.tab", 18_000)]


def _charsets() -> list[Spec]:
    """glibc's converters (``gconv``) and character maps, one per character set."""
    names = [f"ISO8859-{i}" for i in range(1, 17)] + [f"CP{i}" for i in range(1250, 1259)]
    names += [
        f"IBM{i:03d}"
        for i in (
            37,
            273,
            277,
            278,
            280,
            284,
            285,
            290,
            297,
            420,
            424,
            437,
            500,
            850,
            851,
            852,
            855,
            856,
            857,
            860,
            861,
            862,
            863,
            864,
            865,
            866,
            868,
            869,
            870,
            871,
            874,
            875,
            880,
            891,
            903,
            904,
            905,
            918,
            922,
            932,
            943,
            1004,
            1008,
            1025,
            1026,
            1046,
            1047,
            1097,
            1112,
            1122,
            1123,
            1124,
            1129,
            1130,
            1132,
            1133,
            1137,
            1140,
            1141,
            1142,
            1143,
            1144,
            1145,
            1146,
        )
    ]
    names += [
        "UTF-16",
        "UTF-32",
        "UTF-7",
        "EUC-JP",
        "EUC-KR",
        "EUC-TW",
        "GBK",
        "GB18030",
        "BIG5",
        "BIG5HKSCS",
        "KOI8-R",
        "KOI8-U",
        "SJIS",
        "TSCII",
        "UNICODE",
        "ARMSCII-8",
        "GEORGIAN-PS",
        "VISCII",
    ]
    out = [Spec(f"{LIB}/gconv/{n}.so", _vary(n, 18_000), ELF) for n in names]
    out.append(Spec(f"{LIB}/gconv/gconv-modules.cache", 27_000, ELF))
    out += [Spec(f"usr/share/i18n/charmaps/{n}.gz", _vary(n + "m", 6000), PACKED) for n in names]
    # The locale sources localedef reads: one per language and country.
    langs = "af ar be bg bn ca cs cy da de el en es et eu fa fi fr ga gl he hi hr hu hy id is it"
    countries = "AE AR AT AU BE BR CA CH CL CN CO DE DK ES FI FR GB IE IN IT MX NL NZ PT US ZA"
    out += [
        Spec(f"usr/share/i18n/locales/{lang}_{country}", _vary(lang + country, 9000))
        for lang in langs.split()
        for country in countries.split()[: 4 + zlib.crc32(lang.encode()) % 20]
    ]
    return out


def _perl_modules() -> list[Spec]:
    names = [
        "strict",
        "warnings",
        "vars",
        "constant",
        "overload",
        "parent",
        "base",
        "Carp",
        "Exporter",
        "Config",
        "File/Basename",
        "File/Path",
        "File/Spec",
        "File/Temp",
        "Getopt/Long",
        "IO/File",
        "IO/Handle",
        "IPC/Open3",
        "List/Util",
        "POSIX",
        "Scalar/Util",
        "Symbol",
        "Text/ParseWords",
        "Tie/Hash",
        "Time/Local",
        "XSLoader",
        "bytes",
        "integer",
        "lib",
        "locale",
        "utf8",
        "feature",
        "Fcntl",
        "Errno",
        "Socket",
        "SelectSaver",
        "Text/Wrap",
        "Digest/MD5",
        "Data/Dumper",
        "Encode",
        "MIME/Base64",
        "Storable",
        "Term/ANSIColor",
        "Hash/Util",
        "IO/Seekable",
        "Cwd",
        "DynaLoader",
    ]
    folder = f"{LIB}/perl-base"
    out = [Spec(f"{folder}/{n}.pm", _vary(n, 14_000)) for n in names]
    out += [Spec(f"{folder}/unicore/lib/{n}.pl", _vary(n + "u", 9000)) for n in names]
    out += [Spec(f"{folder}/auto/{n}/{n.split('/')[-1]}.so", 40_000, ELF) for n in names[:20]]
    return out


def _terminfo() -> list[Spec]:
    names = "a/ansi d/dumb l/linux r/rxvt s/screen s/screen-256color s/sun t/tmux v/vt100 "
    names += "v/vt102 v/vt220 x/xterm x/xterm-256color x/xterm-color x/xterm-mono"
    return [Spec(f"usr/share/terminfo/{n}", _vary(n, 2500), ELF) for n in names.split()]


ETC = [
    Spec("etc/debian_version", 5),
    Spec("etc/hostname", 0),
    Spec("etc/issue", 27),
    Spec("etc/passwd", 922),
    Spec("etc/group", 446),
    Spec("etc/shadow", 501, mode=0o640),
    Spec("etc/gshadow", 374, mode=0o640),
    Spec("etc/login.defs", 12_569),
    Spec("etc/nsswitch.conf", 494),
    Spec("etc/bash.bashrc", 1994),
    Spec("etc/profile", 769),
    Spec("etc/environment", 0),
    Spec("etc/host.conf", 9),
    Spec("etc/ld.so.conf", 34),
    Spec("etc/ld.so.cache", 7_400, ELF),
    Spec("etc/mke2fs.conf", 685),
    Spec("etc/adduser.conf", 3040),
    Spec("etc/deluser.conf", 604),
    Spec("etc/apt/sources.list.d/debian.sources", 390),
    Spec("etc/apt/apt.conf.d/docker-clean", 1109),
    Spec("etc/apt/apt.conf.d/docker-gzip-indexes", 481),
    Spec("etc/apt/apt.conf.d/docker-no-languages", 269),
    Spec("etc/apt/apt.conf.d/docker-autoremove-suggests", 754),
    Spec("etc/apt/trusted.gpg.d/debian-archive-bookworm-automatic.asc", 11_800, PACKED),
    Spec("etc/apt/trusted.gpg.d/debian-archive-bookworm-security-automatic.asc", 11_800, PACKED),
    *_many(
        "etc/pam.d",
        "common-account common-auth common-password common-session login su "
        "chfn chsh passwd other runuser",
        1100,
    ),
    *_many(
        "etc/security",
        "access.conf limits.conf group.conf namespace.conf pam_env.conf time.conf faillock.conf",
        2200,
    ),
    *_many("etc/default", "useradd nss locale", 600),
    *_many("etc/cron.daily", "apt-compat dpkg", 1400),
    *_many("etc/logrotate.d", "apt dpkg alternatives", 170),
    *_many("etc/skel", ".bashrc .profile .bash_logout", 2000),
    Spec("etc/os-release", 267),
]


@functools.cache
def debian_base() -> tuple[Package, ...]:
    """What ``debian:bookworm`` holds: about 90 packages, 3,000 paths, 40 MB."""
    return (
        deb("base-files", "12.4+deb12u8", share=[*ETC, Spec("usr/lib/os-release", 267)]),
        deb("coreutils", "9.1-1", bins=" ".join(f"{c}:80" for c in COREUTILS.split()), locales=60),
        deb("bash", "5.2.15-2+b7", bins="bash:1240 bashbug:8 clear_console:14", locales=30),
        deb("dash", "0.5.12-2", bins="dash:122"),
        deb(
            "apt",
            "2.6.1",
            bins="apt:18 apt-get:50 apt-cache:90 apt-config:26 apt-mark:46 apt-key:28",
            libs="libapt-pkg.so.6.0.0:2110 libapt-private.so.0.0.0:420",
            locales=40,
        ),
        deb(
            "dpkg",
            "1.21.22",
            bins="dpkg:300 dpkg-deb:150 dpkg-query:150 dpkg-divert:140 "
            "dpkg-split:110 dpkg-statoverride:75 dpkg-trigger:70 dpkg-maintscript-helper:20 "
            "update-alternatives:60",
            locales=120,
        ),
        deb(
            "libc6",
            "2.36-9+deb12u9",
            bins="getconf:34 getent:34 iconv:66 ldd:6 locale:58 localedef:350 tzselect:16 zdump:26",
            sbins="ldconfig:900",
            libs="libc.so.6:1880 libm.so.6:900 libresolv.so.2:70 libpthread.so.0:20 "
            "libdl.so.2:16 librt.so.1:20 libnss_files.so.2:16 libnss_dns.so.2:16 "
            "libanl.so.1:16 libutil.so.1:16 libmvec.so.1:1000 libBrokenLocale.so.1:16",
            share=_charsets(),
            locales=180,
        ),
        deb("perl-base", "5.36.0-7+deb12u1", bins="perl:3820", share=_perl_modules()),
        deb("tzdata", "2024a-0+deb12u1", share=_zoneinfo(), manual=False),
        deb(
            "util-linux",
            "2.38.1-5+b1",
            bins="chrt:30 flock:22 getopt:22 ionice:22 ipcs:34 "
            "lscpu:100 lsipc:60 lsns:50 mcookie:22 namei:30 prlimit:38 rename.ul:22 renice:14 "
            "rev:14 script:60 setsid:14 taskset:30 whereis:34",
            sbins="agetty:60 blkid:80 "
            "fdisk:130 findfs:14 fsck:50 hwclock:54 losetup:90 mkfs:14 mkswap:80 pivot_root:14 "
            "sulogin:46 swapon:60 switch_root:22 wipefs:38",
            locales=300,
        ),
        deb("mount", "2.38.1-5+b1", bins="mount:60 umount:40"),
        deb("login", "1:4.13+dfsg1-1+b1", bins="login:50 newgrp:40 faillog:30 lastlog:30"),
        deb(
            "passwd",
            "1:4.13+dfsg1-1+b1",
            bins="chage:70 chfn:60 chsh:50 expiry:30 gpasswd:80 passwd:70",
            sbins="chpasswd:60 groupadd:70 groupdel:70 useradd:140 "
            "userdel:100 usermod:130 pwck:60 grpck:60",
            locales=140,
        ),
        deb("tar", "1.34+dfsg-1.2+deb12u1", bins="tar:520", sbins="rmt-tar:60", locales=120),
        deb("gzip", "1.12-1", bins="gzip:96 gunzip:2 zcat:2 zgrep:8 zless:2 zmore:2"),
        deb("sed", "4.9-1", bins="sed:120", locales=40),
        deb("grep", "3.8-5", bins="grep:190 egrep:1 fgrep:1", locales=50),
        deb("findutils", "4.9.0-4", bins="find:220 xargs:80", locales=60),
        deb("diffutils", "1:3.8-4", bins="cmp:50 diff:170 diff3:60 sdiff:60", locales=50),
        deb("hostname", "3.23+nmu1", bins="hostname:22"),
        deb("mawk", "1.3.4.20200120-3.1", bins="mawk:160"),
        deb("ncurses-base", "6.4-4", share=_terminfo(), manual=False),
        deb(
            "ncurses-bin", "6.4-4", bins="clear:14 infocmp:60 tabs:14 tic:90 toe:18 tput:26 tset:26"
        ),
        deb(
            "debconf",
            "1.5.82",
            bins="debconf:4 debconf-apt-progress:14 debconf-communicate:3 "
            "debconf-copydb:3 debconf-escape:1 debconf-set-selections:3 debconf-show:2",
            share=_many(
                "usr/share/perl5/Debconf",
                "Base Config ConfModule Db Element Encoding "
                "FrontEnd Gettext Iterator Log Path Priority Question Template "
                "AutoSelect Client/ConfModule DbDriver/File DbDriver/Stack "
                "Element/Noninteractive FrontEnd/Readline",
                9000,
                ext=".pm",
            ),
        ),
        deb("gpgv", "2.2.40-1.1", bins="gpgv:390"),
        deb(
            "debian-archive-keyring",
            "2023.3+deb12u1",
            manual=False,
            share=_many(
                "usr/share/keyrings",
                "debian-archive-keyring.gpg debian-archive-removed-keys.gpg",
                60_000,
                PACKED,
            ),
        ),
        deb(
            "init-system-helpers",
            "1.65.2",
            bins="deb-systemd-helper:20 deb-systemd-invoke:8",
            sbins="invoke-rc.d:16 service:10 update-rc.d:18",
        ),
        deb(
            "sysvinit-utils",
            "3.06-4",
            sbins="fstab-decode:14 killall5:22 pidof:1 start-stop-daemon:46",
        ),
        deb("bsdutils", "1:2.38.1-5+b1", bins="logger:50 renice:14 script:60 wall:30"),
        deb(
            "e2fsprogs",
            "1.47.0-2",
            sbins="e2fsck:340 mke2fs:140 tune2fs:110 debugfs:230 "
            "resize2fs:70 dumpe2fs:34 e2label:1",
            libs="libext2fs.so.2.4:420 libe2p.so.2.3:40 libcom_err.so.2.1:18 libss.so.2.0:34",
            locales=110,
        ),
        deb(
            "libssl3",
            "3.0.15-1~deb12u1",
            libs="libssl.so.3:690 libcrypto.so.3:4700",
            share=_many(f"{LIB}/ossl-modules", "legacy.so", 150_000, ELF),
        ),
        deb("libsystemd0", "252.31-1~deb12u1", libs="libsystemd.so.0.35.0:900"),
        deb("libstdc++6", "12.2.0-14", libs="libstdc++.so.6.0.30:2190"),
        *(
            deb(pkg, version, libs=lib)
            for pkg, version, lib in (
                ("libgcc-s1", "12.2.0-14", "libgcc_s.so.1:130"),
                ("zlib1g", "1:1.2.13.dfsg-1", "libz.so.1.2.13:120"),
                ("libzstd1", "1.5.4+dfsg2-5", "libzstd.so.1.5.4:810"),
                ("liblzma5", "5.4.1-0.2", "liblzma.so.5.4.1:170"),
                ("libbz2-1.0", "1.0.8-5+b1", "libbz2.so.1.0.4:74"),
                ("liblz4-1", "1.9.4-1", "liblz4.so.1.9.4:140"),
                ("libxxhash0", "0.8.1-1", "libxxhash.so.0.8.1:50"),
                ("libpcre2-8-0", "10.42-1", "libpcre2-8.so.0.11.2:620"),
                ("libselinux1", "3.4-1+b6", "libselinux.so.1:170"),
                ("libsepol2", "3.4-2.1", "libsepol.so.2:740"),
                ("libsemanage2", "3.4-1+b5", "libsemanage.so.2:290"),
                ("libcap2", "1:2.66-4", "libcap.so.2.66:40 libpsx.so.2.66:14"),
                ("libacl1", "2.3.1-3", "libacl.so.1.1.2301:40"),
                ("libattr1", "1:2.5.1-4", "libattr.so.1.1.2501:26"),
                ("libaudit1", "1:3.0.9-1", "libaudit.so.1.0.0:130"),
                ("libpam0g", "1.5.2-6+deb12u1", "libpam.so.0.85.1:70 libpam_misc.so.0.82.1:18"),
                ("libcrypt1", "1:4.4.33-2", "libcrypt.so.1.1.0:210"),
                ("libgnutls30", "3.7.9-2+deb12u3", "libgnutls.so.30.34.3:2040"),
                ("libgcrypt20", "1.10.1-3", "libgcrypt.so.20.4.1:1290"),
                ("libgpg-error0", "1.46-1", "libgpg-error.so.0.33.1:150"),
                ("libgmp10", "2:6.2.1+dfsg1-1.1", "libgmp.so.10.4.1:650"),
                ("libnettle8", "3.8.1-2", "libnettle.so.8.6:310"),
                ("libhogweed6", "3.8.1-2", "libhogweed.so.6.6:290"),
                ("libidn2-0", "2.3.3-1+b1", "libidn2.so.0.3.8:200"),
                ("libunistring2", "1.0-2", "libunistring.so.2.2.0:1720"),
                ("libtasn1-6", "4.19.0-2", "libtasn1.so.6.6.3:80"),
                ("libp11-kit0", "0.24.1-2", "libp11-kit.so.0.3.0:1300"),
                ("libffi8", "3.4.4-1", "libffi.so.8.1.2:50"),
                ("libdb5.3", "5.3.28+dfsg2-1", "libdb-5.3.so:1770"),
                ("libmd0", "1.0.4-2", "libmd.so.0.0.5:80"),
                ("libtinfo6", "6.4-4", "libtinfo.so.6.4:200"),
                ("libblkid1", "2.38.1-5+b1", "libblkid.so.1.1.0:340"),
                ("libmount1", "2.38.1-5+b1", "libmount.so.1.1.0:380"),
                ("libsmartcols1", "2.38.1-5+b1", "libsmartcols.so.1.1.0:290"),
                ("libuuid1", "2.38.1-5+b1", "libuuid.so.1.3.0:34"),
                ("libseccomp2", "2.5.4-1+b3", "libseccomp.so.2.5.4:150"),
                ("libdebconfclient0", "0.270", "libdebconfclient.so.0.0.0:14"),
                ("libext2fs2", "1.47.0-2", "libext2fs.so.2.4:420"),
                ("libcom-err2", "1.47.0-2", "libcom_err.so.2.1:18"),
                ("libss2", "1.47.0-2", "libss.so.2.0:34"),
                ("libkeyutils1", "1.6.3-2", "libkeyutils.so.1.10:18"),
                ("libkrb5-3", "1.20.1-2+deb12u2", "libkrb5.so.3.3:870"),
                ("libgssapi-krb5-2", "1.20.1-2+deb12u2", "libgssapi_krb5.so.2.2:330"),
                ("libk5crypto3", "1.20.1-2+deb12u2", "libk5crypto.so.3.1:180"),
                ("libkrb5support0", "1.20.1-2+deb12u2", "libkrb5support.so.0.1:50"),
                ("libnsl2", "1.3.0-2", "libnsl.so.2.0.1:110"),
                ("libtirpc3", "1.3.3+ds-1", "libtirpc.so.3.0.0:180"),
                ("libsqlite3-0", "3.40.1-2+deb12u1", "libsqlite3.so.0.8.6:1500"),
            )
        ),
    )


# --- packages the lessons install ------------------------------------------------------------


def _python_stdlib() -> list[Spec]:
    modules = [
        "abc",
        "argparse",
        "ast",
        "asyncio/base_events",
        "asyncio/events",
        "asyncio/tasks",
        "base64",
        "bisect",
        "calendar",
        "codecs",
        "collections/__init__",
        "collections/abc",
        "concurrent/futures/_base",
        "configparser",
        "contextlib",
        "copy",
        "csv",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "dis",
        "email/message",
        "email/parser",
        "email/utils",
        "enum",
        "fnmatch",
        "fractions",
        "functools",
        "getopt",
        "gettext",
        "glob",
        "gzip",
        "hashlib",
        "heapq",
        "hmac",
        "html/parser",
        "http/client",
        "http/server",
        "importlib/__init__",
        "importlib/metadata/__init__",
        "inspect",
        "io",
        "ipaddress",
        "json/__init__",
        "json/decoder",
        "json/encoder",
        "logging/__init__",
        "logging/handlers",
        "lzma",
        "mimetypes",
        "multiprocessing/pool",
        "operator",
        "optparse",
        "os",
        "pathlib",
        "pickle",
        "platform",
        "plistlib",
        "pprint",
        "queue",
        "random",
        "re/__init__",
        "re/_parser",
        "selectors",
        "shlex",
        "shutil",
        "signal",
        "site",
        "socket",
        "sqlite3/__init__",
        "ssl",
        "stat",
        "statistics",
        "string",
        "struct",
        "subprocess",
        "tarfile",
        "tempfile",
        "textwrap",
        "threading",
        "tokenize",
        "traceback",
        "types",
        "typing",
        "unittest/case",
        "urllib/parse",
        "urllib/request",
        "uuid",
        "warnings",
        "weakref",
        "xml/dom/minidom",
        "xml/etree/ElementTree",
        "zipfile",
        "zoneinfo/__init__",
        "tomllib/_parser",
        "pydoc_data/topics",
    ]
    base = "usr/lib/python3.12"
    out = []
    for m in modules:
        size = _vary(m, 40_000)
        folder, _, name = f"{base}/{m}".rpartition("/")
        out.append(Spec(f"{folder}/{name}.py", size))
        out.append(Spec(f"{folder}/__pycache__/{name}.cpython-312.pyc", size * 2 // 3, ELF))
    for ext in [
        "_asyncio",
        "_bz2",
        "_ctypes",
        "_decimal",
        "_hashlib",
        "_json",
        "_lzma",
        "_multiprocessing",
        "_pickle",
        "_queue",
        "_socket",
        "_sqlite3",
        "_ssl",
        "_struct",
        "_uuid",
        "_zoneinfo",
        "array",
        "binascii",
        "math",
        "mmap",
        "pyexpat",
        "readline",
        "select",
        "unicodedata",
        "zlib",
    ]:
        out.append(
            Spec(
                f"{base}/lib-dynload/{ext}.cpython-312-x86_64-linux-gnu.so",
                _vary(ext, 120_000),
                ELF,
            )
        )
    return out


def _dist(
    name: str, version: str, modules: int, kib: int, *, top: str = "", so: str = ""
) -> list[Spec]:
    """An installed wheel: ``modules`` .py files (and the .pyc pip compiles), shared libraries
    ``so`` ("name:KiB ..."), and the dist-info pip writes."""
    top = top or name.lower()
    each = kib * 1024 // max(modules, 1)
    out = []
    for i in range(modules):
        sub = ("", "core/", "utils/", "contrib/", "db/", "http/", "template/")[i % 7]
        stem = f"m{i:03d}" if i else "__init__"
        folder = f"{SITE}/{top}/{sub}".rstrip("/")
        size = _vary(f"{folder}/{stem}", each)
        out.append(Spec(f"{folder}/{stem}.py", size))
        out.append(Spec(f"{folder}/__pycache__/{stem}.cpython-312.pyc", size * 3 // 4, ELF))
    for item in so.split():
        lib, _, size_kib = item.partition(":")
        out.append(Spec(f"{SITE}/{lib}", int(size_kib) * 1024, ELF))
    info = f"{SITE}/{name}-{version}.dist-info"
    out += [
        Spec(f"{info}/METADATA", _vary(info, 4000)),
        Spec(f"{info}/RECORD", 60 * (modules * 2 + 4)),
        Spec(f"{info}/WHEEL", 92),
        Spec(f"{info}/INSTALLER", 4),
        Spec(f"{info}/top_level.txt", len(top) + 1),
        Spec(f"{info}/LICENSE", 1500),
    ]
    return out


def _django_locale() -> list[Spec]:
    out = []
    for app in ("conf", "contrib/admin", "contrib/auth", "contrib/humanize"):
        for lang in LANGS:
            folder = f"{SITE}/django/{app}/locale/{lang}/LC_MESSAGES"
            out.append(Spec(f"{folder}/django.po", _vary(folder, 20_000)))
            out.append(Spec(f"{folder}/django.mo", _vary(folder + "m", 14_000)))
    static = f"{SITE}/django/contrib/admin/static/admin"
    out += _many(
        f"{static}/js",
        "actions admin/RelatedObjectLookups autocomplete calendar "
        "change_form collapse core filters inlines nav_sidebar prepopulate "
        "SelectBox SelectFilter2 urlify vendor/jquery/jquery vendor/select2/select2 "
        "vendor/xregexp/xregexp",
        30_000,
        ext=".js",
    )
    out += _many(
        f"{static}/css",
        "base changelists dashboard forms login nav_sidebar "
        "responsive rtl widgets autocomplete dark_mode",
        12_000,
        ext=".css",
    )
    out += _many(
        f"{static}/img",
        "icon-addlink icon-alert icon-calendar icon-changelink "
        "icon-clock icon-deletelink icon-no icon-yes search selector-icons "
        "sorting-icons tooltag-add",
        600,
        PACKED,
        ".svg",
    )
    return out


# name -> (files, what pip downloads for it: the wheels it keeps in ~/.cache/pip)
@functools.cache
def pip_dists() -> dict[str, tuple[Spec, ...]]:
    return {
        "django": (
            *_dist("Django", "5.1.4", 420, 7200),
            *_django_locale(),
            *_dist("asgiref", "3.8.1", 12, 160),
            *_dist("sqlparse", "0.5.3", 24, 300),
        ),
        "pillow": tuple(
            _dist(
                "pillow",
                "11.0.0",
                90,
                1900,
                top="PIL",
                so="PIL/_imaging.cpython-312-x86_64-linux-gnu.so:3300 "
                "pillow.libs/libjpeg-0f8a1a43.so.62.4.0:620 "
                "pillow.libs/libpng16-8cdbb3c3.so.16.44.0:300 "
                "pillow.libs/libtiff-0a86184d.so.6.0.2:720 "
                "pillow.libs/libwebp-0feb04d2.so.7.1.9:740 "
                "pillow.libs/libfreetype-be14bf51.so.6.20.1:1420 "
                "pillow.libs/liblcms2-e69eef39.so.2.0.16:520 "
                "pillow.libs/libopenjp2-05423b53.so.2.5.2:580 "
                "pillow.libs/libharfbuzz-2093a78b.so.0.60830.0:3100 "
                "pillow.libs/libxcb-0917aca4.so.1.1.0:250",
            )
        ),
        "flask": (
            *_dist("flask", "3.0.3", 24, 420),
            *_dist("werkzeug", "3.1.3", 52, 1400),
            *_dist("jinja2", "3.1.4", 26, 900),
            *_dist(
                "MarkupSafe",
                "3.0.2",
                3,
                30,
                top="markupsafe",
                so="markupsafe/_speedups.cpython-312-x86_64-linux-gnu.so:44",
            ),
            *_dist("itsdangerous", "2.2.0", 9, 80),
            *_dist("click", "8.1.7", 16, 620),
            *_dist("blinker", "1.9.0", 4, 40),
        ),
        "gunicorn": tuple(_dist("gunicorn", "23.0.0", 48, 680)),
    }


def pip_cache(names: Iterable[str]) -> list[Spec]:
    """What ``pip install`` (without ``--no-cache-dir``) leaves in ``~/.cache/pip``: every
    wheel it downloaded, about 40% of what it unpacks, already compressed."""
    dists = pip_dists()
    out = []
    for name in names:
        digest = hashlib.sha256(name.encode()).hexdigest()
        folder = f"root/.cache/pip/http-v2/{'/'.join(digest[:5])}"
        size = sum(s.size for s in dists[name]) * 2 // 5
        out.append(Spec(f"{folder}/{digest[5:61]}", 580))
        out.append(Spec(f"{folder}/{digest[5:61]}.body", size, PACKED))
    return out


@functools.cache
def apt_packages() -> dict[str, Package]:
    """Packages the lessons install with ``apt-get``, beyond the base."""
    packages = [
        deb(
            "curl",
            "7.88.1-10+deb12u8",
            bins="curl:260",
            libs="libcurl.so.4.8.0:730 libnghttp2.so.14.24.1:180 libpsl.so.5.3.4:70 "
            "librtmp.so.1:120 libssh2.so.1.0.1:280 libldap-2.5.so.0.1.8:360 "
            "liblber-2.5.so.0.1.8:60 libsasl2.so.2.0.25:110 libbrotlidec.so.1.0.9:50 "
            "libbrotlicommon.so.1.0.9:140",
        ),
        deb(
            "ca-certificates",
            "20230311",
            sbins="update-ca-certificates:8",
            share=[
                Spec("etc/ssl/certs/ca-certificates.crt", 213_000),
                *_many(
                    "usr/share/ca-certificates/mozilla",
                    " ".join(f"CA_{i:03d}" for i in range(140)),
                    1900,
                    ext=".crt",
                ),
            ],
        ),
        deb(
            "nginx",
            "1.22.1-9",
            sbins="nginx:1300",
            share=[
                *_many(
                    "etc/nginx",
                    "nginx.conf mime.types fastcgi.conf fastcgi_params koi-utf "
                    "koi-win proxy_params scgi_params uwsgi_params win-utf",
                    1800,
                ),
                Spec("etc/nginx/sites-available/default", 2412),
                Spec(
                    "etc/nginx/sites-enabled/default",
                    0,
                    LINK,
                    target="/etc/nginx/sites-available/default",
                ),
                Spec("var/www/html/index.nginx-debian.html", 615),
                *_many(
                    f"{LIB}/nginx/modules",
                    "ngx_http_geoip_module ngx_http_image_filter_module "
                    "ngx_http_xslt_filter_module ngx_mail_module ngx_stream_module",
                    120_000,
                    ELF,
                    ".so",
                ),
            ],
            libs="libxslt.so.1.1.35:240 libxml2.so.2.9.14:1900 "
            "libgd.so.3.0.11:420 libgeoip.so.1.6.12:140",
        ),
        deb(
            "python3.12",
            "3.12.7-1",
            bins="python3.12:6700 pydoc3.12:1",
            libs="libpython3.12.so.1.0:7400 libexpat.so.1.8.10:200 libmpdec.so.3:260 "
            "libreadline.so.8.2:340",
            share=_python_stdlib(),
        ),
        deb(
            "python3-pip",
            "23.0.1+dfsg-1",
            bins="pip:1 pip3:1",
            share=[*_dist("pip", "23.0.1", 300, 9000, top="pip")],
            manual=True,
        ),
        deb(
            "gcc-12",
            "12.2.0-14",
            bins="gcc-12:1200 cpp-12:1200 gcov-12:700",
            share=[
                Spec(f"usr/libexec/gcc/x86_64-linux-gnu/12/{p}", s * 1024, ELF, 0o755)
                for p, s in (
                    ("cc1", 16_000),
                    ("collect2", 330),
                    ("lto-wrapper", 1000),
                    ("liblto_plugin.so", 80),
                )
            ]
            + [
                Spec(f"usr/lib/gcc/x86_64-linux-gnu/12/{p}", s * 1024, ELF)
                for p, s in (
                    ("libgcc.a", 4300),
                    ("libasan.so", 4000),
                    ("libubsan.so", 2800),
                    ("crtbegin.o", 3),
                    ("crtend.o", 2),
                )
            ],
        ),
        deb(
            "binutils",
            "2.40-2",
            bins="as:900 ld.bfd:1800 ld.gold:2500 objdump:600 "
            "readelf:800 nm:60 strip:1100 ar:60 ranlib:60 objcopy:1100 strings:40",
            libs="libbfd-2.40-system.so:2400 libopcodes-2.40-system.so:1200 "
            "libctf.so.0.0.0:170 libsframe.so.0.0.0:40 libjansson.so.4.14.0:60",
        ),
        deb(
            "libc6-dev",
            "2.36-9+deb12u9",
            share=[
                *_many("usr/include", " ".join(f"h{i:03d}" for i in range(260)), 9000, ext=".h"),
                *_many(
                    "usr/include/x86_64-linux-gnu/sys",
                    " ".join(f"s{i:02d}" for i in range(60)),
                    5000,
                    ext=".h",
                ),
                *(
                    Spec(f"{LIB}/{a}", s * 1024, ELF)
                    for a, s in (
                        ("libc.a", 6100),
                        ("libm.a", 3500),
                        ("libc_nonshared.a", 60),
                        ("crt1.o", 2),
                        ("crti.o", 2),
                        ("crtn.o", 1),
                    )
                ),
            ],
        ),
        deb("make", "4.3-4.1", bins="make:240", locales=30),
        deb(
            "netbase",
            "6.4",
            share=[
                Spec("etc/protocols", 2932),
                Spec("etc/services", 12_813),
                Spec("etc/rpc", 887),
                Spec("etc/ethertypes", 1816),
            ],
        ),
    ]
    return {p.name: p for p in packages}


def apt_lists() -> list[Spec]:
    """What ``apt-get update`` leaves in ``/var/lib/apt/lists``: the signed release files and
    the package indexes, stored compressed (the image's ``docker-gzip-indexes``)."""
    lists = "var/lib/apt/lists"
    host = "deb.debian.org_debian"
    return [
        Spec(f"{lists}/{host}_dists_bookworm_InRelease", 151_000),
        Spec(f"{lists}/{host}_dists_bookworm_main_binary-amd64_Packages.lz4", 9_130_000, PACKED),
        Spec(f"{lists}/{host}_dists_bookworm-updates_InRelease", 55_400),
        Spec(
            f"{lists}/{host}_dists_bookworm-updates_main_binary-amd64_Packages.lz4", 13_400, PACKED
        ),
        Spec(f"{lists}/{host}-security_dists_bookworm-security_InRelease", 48_000),
        Spec(
            f"{lists}/{host}-security_dists_bookworm-security_main_binary-amd64_Packages.lz4",
            271_000,
            PACKED,
        ),
        Spec(f"{lists}/lock", 0, mode=0o640),
        Spec(f"{lists}/partial", 0, DIR, mode=0o700),
        Spec(f"{lists}/auxfiles", 0, DIR),
    ]


# --- application contexts --------------------------------------------------------------------


def node_modules() -> list[Spec]:
    """A front end's ``node_modules``: thousands of small JavaScript files, a few binaries."""
    packages = [
        "react",
        "react-dom",
        "scheduler",
        "loose-envify",
        "js-tokens",
        "@babel/core",
        "@babel/parser",
        "@babel/traverse",
        "@babel/types",
        "@babel/generator",
        "@babel/helpers",
        "@babel/template",
        "webpack",
        "webpack-cli",
        "webpack-sources",
        "terser",
        "acorn",
        "enhanced-resolve",
        "tapable",
        "graceful-fs",
        "eslint",
        "espree",
        "esquery",
        "estraverse",
        "esutils",
        "ajv",
        "fast-deep-equal",
        "json-schema-traverse",
        "lodash",
        "semver",
        "chalk",
        "ansi-styles",
        "supports-color",
        "debug",
        "ms",
        "minimatch",
        "brace-expansion",
        "glob",
        "picomatch",
        "micromatch",
        "braces",
        "fill-range",
        "to-regex-range",
        "postcss",
        "nanoid",
        "source-map-js",
        "caniuse-lite",
        "browserslist",
        "electron-to-chromium",
        "node-releases",
        "typescript",
        "@types/node",
        "@types/react",
        "csstype",
        "esbuild",
        "@esbuild/linux-x64",
        "rollup",
        "vite",
        "sass",
        "immutable",
        "chokidar",
        "readdirp",
        "anymatch",
        "normalize-path",
    ]
    out = []
    for pkg in packages:
        folder = f"node_modules/{pkg}"
        out.append(Spec(f"{folder}/package.json", _vary(pkg, 1800)))
        out.append(Spec(f"{folder}/README.md", _vary(pkg + "r", 6000)))
        out.append(Spec(f"{folder}/LICENSE", 1080))
        count = 10 + zlib.crc32(pkg.encode()) % 60
        for i in range(count):
            sub = ("lib", "dist", "cjs", "esm")[i % 4]
            out.append(Spec(f"{folder}/{sub}/f{i:02d}.js", _vary(f"{folder}{i}", 7000)))
            if i % 3 == 0:
                out.append(Spec(f"{folder}/{sub}/f{i:02d}.d.ts", _vary(f"{folder}{i}d", 2500)))
    out.append(Spec("node_modules/typescript/lib/typescript.js", 8_900_000))
    out.append(Spec("node_modules/@esbuild/linux-x64/bin/esbuild", 9_800_000, ELF, 0o755))
    out.append(Spec("node_modules/caniuse-lite/data/agents.js", 320_000))
    out.append(Spec("node_modules/.package-lock.json", 190_000))
    return out


def git_dir() -> list[Spec]:
    """A clone's ``.git``: a pack of the whole history, its index, and a few loose objects."""
    pack = "pack-" + hashlib.sha1(b"lesson").hexdigest()
    out = [
        Spec(".git/HEAD", 21),
        Spec(".git/config", 260),
        Spec(".git/description", 73),
        Spec(".git/packed-refs", 420),
        Spec(".git/index", 38_000, PACKED),
        Spec(f".git/objects/pack/{pack}.pack", 7_400_000, PACKED),
        Spec(f".git/objects/pack/{pack}.idx", 310_000, PACKED),
        Spec(".git/refs/heads/main", 41),
        Spec(".git/logs/HEAD", 1800),
        *_many(
            ".git/hooks",
            "applypatch-msg commit-msg post-update pre-applypatch pre-commit "
            "pre-push pre-rebase prepare-commit-msg update",
            1800,
            ext=".sample",
        ),
    ]
    for i in range(24):
        name = hashlib.sha1(f"loose{i}".encode()).hexdigest()
        out.append(Spec(f".git/objects/{name[:2]}/{name[2:]}", _vary(name, 3000), PACKED))
    return out
