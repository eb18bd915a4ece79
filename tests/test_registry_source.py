"""``docker://REF``: images pulled from real registries (distribution 2.8) over HTTP.

Three registries (no auth, Basic, token) and a fault-injecting proxy in front of the token one
come from ``tests/registries.py``; images are generated with ``layerviz.lib.synth`` and pushed
with ``skopeo copy``, digests preserved, so a test knows every digest in advance.
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from layerviz.images import packed
from layerviz.images.ingest import ingest
from layerviz.images.models import Blob, Chain, DirChanges, EntryChunk, Image, Layer
from layerviz.lib import oci, synth
from layerviz.lib.errors import DigestMismatch, FormatError, LimitExceeded, SourceError
from layerviz.lib.limits import Limits
from layerviz.sources import SourceOptions

from .registries import PASSWORD, USER, FaultProxy, Registry, TokenServer

pytestmark = [pytest.mark.django_db, pytest.mark.registry]

BASE_LAYER = synth.layer(
    [synth.file("etc/os-release", b"ID=layerviz\n"), synth.file("bin/sh", b"#!", mode=0o755)]
)
APP_LAYER = synth.layer([synth.file("app/main.py", b"print('hello')\n")])
AMD64_LAYER = synth.layer([synth.file("app/arch", b"amd64\n")])
ARM64_LAYER = synth.layer([synth.file("app/arch", b"arm64\n")])
RISCV_LAYER = synth.layer([synth.file("app/arch", b"riscv64\n")])
MARKER = b"corrupt-me-here"
PLAIN_LAYER = synth.layer([synth.file("app/data.txt", MARKER * 4)])


@dataclasses.dataclass
class Pushed:
    """What was pushed where, with every digest known in advance."""

    base: synth.BuiltImage
    app: synth.BuiltImage
    plain: synth.BuiltImage
    multi: synth.BuiltIndex
    solo: synth.BuiltIndex
    app_archive: Path


def _image(layers: list[bytes], **kwargs) -> synth.Image:
    return synth.Image(layers, tags=["1.0"], **kwargs)


def _push(registry: Registry, tmp: Path, name: str, image) -> None:
    archive = synth.write_oci_layout(tmp / f"{name.replace('/', '-')}.tar", [image], as_tar=True)
    registry.push(
        f"oci-archive:{archive}:1.0",
        f"{name}:1.0",
        all_platforms=isinstance(image, synth.ImageIndex),
    )


@pytest.fixture(scope="module")
def pushed(
    open_registry: Registry,
    basic_registry: Registry,
    token_registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Pushed:
    tmp = tmp_path_factory.mktemp("pushed")
    base = _image([BASE_LAYER], compression="gzip")
    app = _image([BASE_LAYER, APP_LAYER], compression="gzip", cmd=["python", "/app/main.py"])
    plain = _image([BASE_LAYER, PLAIN_LAYER], compression=["gzip", "none"])
    multi = synth.ImageIndex(
        [
            synth.Image([BASE_LAYER, AMD64_LAYER], compression="gzip"),
            synth.Image([BASE_LAYER, ARM64_LAYER], compression="gzip", architecture="arm64"),
        ],
        tags=["1.0"],
        attestations=True,
    )
    # One platform no host has, plus its attestation: choosing must skip the attestation.
    solo = synth.ImageIndex(
        [synth.Image([RISCV_LAYER], compression="gzip", architecture="riscv64")],
        tags=["1.0"],
        attestations=True,
    )
    for name, image in [
        ("lv/base", base),
        ("lv/app", app),
        ("lv/plain", plain),
        ("lv/multi", multi),
        ("lv/solo", solo),
    ]:
        _push(token_registry, tmp, name, image)
    _push(basic_registry, tmp, "lv/app", app)
    _push(open_registry, tmp, "lv/app", app)
    return Pushed(
        base=base.build(),
        app=app.build(),
        plain=plain.build(),
        multi=multi.build(),
        solo=solo.build(),
        app_archive=synth.write_oci_layout(tmp / "app-layout.tar", [app], as_tar=True),
    )


def _counts() -> dict[str, int]:
    models = (Image, Layer, EntryChunk, Chain, DirChanges, Blob)
    return {m.__name__: m.objects.count() for m in models}


def _paths(image: Image) -> set[str]:
    return {
        path
        for il in image.layers_in_order()
        for batch in packed.entry_batches(il.layer_id)
        for path in batch.path
    }


# --- authentication ---------------------------------------------------------------------------


def test_an_anonymous_pull_from_a_token_registry_gets_one_token_for_the_whole_image(
    pushed: Pushed, token_registry: Registry, token_service: TokenServer
):
    [image] = ingest(f"docker://{token_registry.host}/lv/app:1.0")

    assert image.digest == pushed.app.manifest.digest
    assert image.image_id == pushed.app.config.digest
    assert [il.layer.diff_id for il in image.layers_in_order()] == pushed.app.diff_ids
    assert {"etc/os-release", "app/main.py"} <= _paths(image)
    assert image.index_digest == ""
    assert sorted(r.name for r in image.references.all()) == sorted(
        [
            f"{token_registry.host}/lv/app:1.0",
            f"{token_registry.host}/lv/app@{pushed.app.manifest.digest}",
        ]
    )
    # Manifest, config and both layers shared one anonymous pull token.
    assert token_service.requests == [(["repository:lv/app:pull"], None)]


def test_a_registry_pull_gives_the_same_image_as_its_archive(
    pushed: Pushed, token_registry: Registry
):
    [from_archive] = ingest(f"oci-archive:{pushed.app_archive}")
    [from_registry] = ingest(f"docker://{token_registry.host}/lv/app:1.0")

    assert from_registry.pk == from_archive.pk
    assert Image.objects.count() == 1


def test_a_token_sent_as_access_token_is_accepted(
    pushed: Pushed, token_registry: Registry, token_service: TokenServer
):
    token_service.token_field = "access_token"

    [image] = ingest(f"docker://{token_registry.host}/lv/base:1.0")

    assert image.digest == pushed.base.manifest.digest


def test_credentials_authenticate_the_token_request(
    pushed: Pushed, token_registry: Registry, token_service: TokenServer
):
    options = SourceOptions(username=USER, password=PASSWORD)

    [image] = ingest(f"docker://{token_registry.host}/lv/base:1.0", options=options)

    assert image.digest == pushed.base.manifest.digest
    assert token_service.requests == [(["repository:lv/base:pull"], USER)]


def test_wrong_credentials_for_a_token_registry_fail_clearly_and_change_nothing(
    pushed: Pushed, token_registry: Registry
):
    options = SourceOptions(username=USER, password="wrong")

    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{token_registry.host}/lv/app:1.0", options=options)

    message = str(caught.value)
    assert f"registry {token_registry.host} refused access to lv/app" in message
    assert "401 unauthorized: invalid user name or password" in message
    assert _counts() == dict.fromkeys(_counts(), 0)


def test_basic_credentials_pull_from_an_htpasswd_registry(pushed: Pushed, basic_registry: Registry):
    options = SourceOptions(username=USER, password=PASSWORD)

    [image] = ingest(f"docker://{basic_registry.host}/lv/app:1.0", options=options)

    assert image.digest == pushed.app.manifest.digest


def test_wrong_basic_credentials_are_refused_with_the_registrys_reason(
    pushed: Pushed, basic_registry: Registry
):
    ingest(f"docker://{basic_registry.host}/lv/app:1.0", options=_basic())
    before = _counts()

    with pytest.raises(SourceError) as caught:
        ingest(
            f"docker://{basic_registry.host}/lv/app:1.0",
            options=SourceOptions(username=USER, password="wrong"),
        )

    assert str(caught.value) == (
        f"registry {basic_registry.host} refused access to lv/app "
        "(401 unauthorized: authentication required)"
    )
    assert _counts() == before


def test_a_basic_registry_without_credentials_says_they_are_needed(
    pushed: Pushed, basic_registry: Registry
):
    with pytest.raises(SourceError, match="requires a user name and password to pull lv/app"):
        ingest(f"docker://{basic_registry.host}/lv/app:1.0")


def test_a_registry_without_authentication_is_pulled_as_is(pushed: Pushed, open_registry: Registry):
    [image] = ingest(f"docker://{open_registry.host}/lv/app:1.0")

    assert image.digest == pushed.app.manifest.digest


def _basic() -> SourceOptions:
    return SourceOptions(username=USER, password=PASSWORD)


# --- what is there and what is not -------------------------------------------------------------


def test_an_unknown_tag_is_reported_as_missing(pushed: Pushed, token_registry: Registry):
    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{token_registry.host}/lv/app:nope")

    assert str(caught.value) == (
        f"registry {token_registry.host} has no manifest lv/app:nope (404 manifest unknown)"
    )


def test_an_unknown_repository_is_reported_as_missing(pushed: Pushed, token_registry: Registry):
    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{token_registry.host}/lv/nothing:1.0")

    # distribution 2.8 says MANIFEST_UNKNOWN here too, not NAME_UNKNOWN.
    assert str(caught.value) == (
        f"registry {token_registry.host} has no manifest lv/nothing:1.0 (404 manifest unknown)"
    )


def test_an_image_pulled_by_digest_is_named_by_that_digest_only(
    pushed: Pushed, token_registry: Registry
):
    digest = pushed.base.manifest.digest

    [image] = ingest(f"docker://{token_registry.host}/lv/base@{digest}")

    assert [r.name for r in image.references.all()] == [f"{token_registry.host}/lv/base@{digest}"]


# --- platforms --------------------------------------------------------------------------------


def test_the_platform_asked_for_is_chosen_from_a_multi_platform_index(
    pushed: Pushed, token_registry: Registry
):
    arm64 = pushed.multi.images[1]

    [image] = ingest(f"docker://{token_registry.host}/lv/multi:1.0", platform="linux/arm64")

    assert (image.os, image.architecture) == ("linux", "arm64")
    assert image.digest == arm64.manifest.digest
    assert image.index_digest == pushed.multi.index.digest
    assert "app/arch" in _paths(image)
    assert f"{token_registry.host}/lv/multi:1.0" in [r.name for r in image.references.all()]


def test_without_a_platform_the_hosts_is_chosen(pushed: Pushed, token_registry: Registry):
    host = oci.host_platform()
    matching = [
        b for b in pushed.multi.images if host.matches(oci.Platform.parse(b.image.platform))
    ]
    if not matching:
        pytest.skip(f"the test index has no image for this host's platform {host}")

    [image] = ingest(f"docker://{token_registry.host}/lv/multi:1.0")

    assert image.digest == matching[0].manifest.digest
    assert image.architecture == host.architecture


def test_attestation_manifests_in_an_index_are_skipped(pushed: Pushed, token_registry: Registry):
    [image] = ingest(f"docker://{token_registry.host}/lv/solo:1.0")

    assert image.digest == pushed.solo.images[0].manifest.digest
    assert image.architecture == "riscv64"


def test_a_platform_missing_from_the_index_is_refused_naming_those_it_has(
    pushed: Pushed, token_registry: Registry
):
    with pytest.raises(FormatError) as caught:
        ingest(f"docker://{token_registry.host}/lv/multi:1.0", platform="linux/s390x")

    assert "has no image for platform linux/s390x (it has: linux/amd64, linux/arm64)" in str(
        caught.value
    )


# --- what the proxy sees ------------------------------------------------------------------------


def test_a_second_image_sharing_a_base_reads_only_its_new_blobs(
    pushed: Pushed, fault_proxy: FaultProxy
):
    ingest(f"docker://{fault_proxy.host}/lv/base:1.0")
    fault_proxy.requests.clear()

    ingest(f"docker://{fault_proxy.host}/lv/app:1.0")

    blobs = {r.path.rpartition("/")[2] for r in fault_proxy.requests if r.is_blob}
    assert blobs == {pushed.app.config.digest, pushed.app.layers[1].digest}
    assert Blob.objects.count() == 2


def test_manifests_are_asked_for_with_head_then_get_with_the_same_accept_header(
    pushed: Pushed, fault_proxy: FaultProxy
):
    ingest(f"docker://{fault_proxy.host}/lv/base:1.0")

    manifests = [r for r in fault_proxy.requests if r.is_manifest and r.status == 200]
    assert [r.method for r in manifests] == ["HEAD", "GET"]
    assert {r.headers["accept"] for r in manifests} == {", ".join(oci.ACCEPT)}


def test_a_redirected_blob_is_fetched_without_the_authorization_header(
    pushed: Pushed, fault_proxy: FaultProxy
):
    fault_proxy.faults.redirect_blobs = True

    [image] = ingest(f"docker://{fault_proxy.host}/lv/app:1.0")

    assert image.digest == pushed.app.manifest.digest
    redirected = [r for r in fault_proxy.requests if r.is_blob]
    assert {r.status for r in redirected} == {307}
    assert all(r.headers["authorization"].startswith("Bearer ") for r in redirected)
    assert len(fault_proxy.store.requests) == 3  # the config and two layers
    assert all("authorization" not in r.headers for r in fault_proxy.store.requests)


def test_rate_limited_requests_are_retried_when_retry_after_is_short(
    pushed: Pushed, fault_proxy: FaultProxy
):
    fault_proxy.faults.throttle = 2
    fault_proxy.faults.retry_after = "1"

    [image] = ingest(f"docker://{fault_proxy.host}/lv/base:1.0")

    assert image.digest == pushed.base.manifest.digest
    assert [r.status for r in fault_proxy.requests].count(429) == 2


def test_a_long_retry_after_fails_at_once_naming_the_wait(pushed: Pushed, fault_proxy: FaultProxy):
    fault_proxy.faults.throttle = 1000
    fault_proxy.faults.retry_after = "3600"

    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{fault_proxy.host}/lv/base:1.0")

    assert str(caught.value) == (
        f"registry {fault_proxy.host} is limiting requests for lv/base "
        "(429 too many requests; it asks to retry after 3600 s)"
    )
    assert _counts() == dict.fromkeys(_counts(), 0)


def test_rate_limiting_that_never_ends_fails_after_a_few_retries(
    pushed: Pushed, fault_proxy: FaultProxy
):
    fault_proxy.faults.throttle = 1000

    with pytest.raises(SourceError, match="is limiting requests for lv/base"):
        ingest(f"docker://{fault_proxy.host}/lv/base:1.0")

    assert len(fault_proxy.requests) < 10


@pytest.mark.parametrize(
    "fault",
    [{"strip_head_digest": True}, {"manifest_head_status": 405}],
    ids=["without-digest", "refused"],
)
def test_a_head_without_a_usable_digest_falls_back_to_get(
    fault: dict, pushed: Pushed, fault_proxy: FaultProxy
):
    for name, value in fault.items():
        setattr(fault_proxy.faults, name, value)

    [image] = ingest(f"docker://{fault_proxy.host}/lv/base:1.0")

    assert image.digest == pushed.base.manifest.digest
    manifests = [r.method for r in fault_proxy.requests if r.is_manifest]
    assert manifests == ["HEAD", "GET"]


def test_a_content_type_that_disagrees_with_the_manifest_is_refused(
    pushed: Pushed, fault_proxy: FaultProxy
):
    fault_proxy.faults.manifest_content_type = oci.DOCKER_MANIFEST

    with pytest.raises(FormatError) as caught:
        ingest(f"docker://{fault_proxy.host}/lv/base:1.0")

    assert f"is served as {oci.DOCKER_MANIFEST} but says it is {oci.OCI_MANIFEST}" in str(
        caught.value
    )


def test_a_manifest_that_does_not_match_its_digest_is_refused(
    pushed: Pushed, fault_proxy: FaultProxy
):
    fault_proxy.faults.manifest_suffix = b"\n"
    digest = pushed.base.manifest.digest

    with pytest.raises(DigestMismatch) as caught:
        ingest(f"docker://{fault_proxy.host}/lv/base:1.0")

    assert f"manifest lv/base:1.0 from registry {fault_proxy.host} hashes to" in str(caught.value)
    assert str(caught.value).endswith(f"not to {digest}")


def test_a_manifest_larger_than_the_limit_is_refused(pushed: Pushed, token_registry: Registry):
    options = SourceOptions(limits=Limits(json_bytes=100))

    with pytest.raises(LimitExceeded, match=r"manifest lv/base:1.0 from .* bytes \(limit 100\)"):
        ingest(f"docker://{token_registry.host}/lv/base:1.0", options=options)


def test_a_corrupted_blob_is_refused_naming_the_layer_and_changes_nothing(
    pushed: Pushed, fault_proxy: FaultProxy
):
    ingest(f"docker://{fault_proxy.host}/lv/base:1.0")
    before = _counts()
    layer = pushed.plain.layers[1]
    fault_proxy.faults.corrupt_blob = layer.digest
    fault_proxy.faults.corrupt_at = PLAIN_LAYER.index(MARKER)

    with pytest.raises(DigestMismatch) as caught:
        ingest(f"docker://{fault_proxy.host}/lv/plain:1.0")

    assert caught.value.layer == f"layer 2/2 ({pushed.plain.diff_ids[1][:19]}…)"
    assert f"not to {layer.digest}" in str(caught.value)
    assert _counts() == before


# --- plain HTTP -------------------------------------------------------------------------------


def _loopback_name() -> str:
    """A host name other than ``localhost`` that resolves to 127.0.0.1 here, if there is one."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        address = ""
    if name == "localhost" or not address.startswith("127."):
        pytest.skip("this machine's host name does not resolve to a loopback address")
    return name


def test_plain_http_is_refused_for_a_host_name_that_is_not_loopback(
    pushed: Pushed, open_registry: Registry
):
    name = _loopback_name()

    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{name}:{open_registry.port}/lv/app:1.0")

    assert f"cannot reach registry {name}:{open_registry.port} over HTTPS" in str(caught.value)
    assert "plain HTTP is used only for loopback registries or when insecure" in str(caught.value)


def test_insecure_allows_plain_http_to_any_host(pushed: Pushed, open_registry: Registry):
    name = _loopback_name()

    [image] = ingest(
        f"docker://{name}:{open_registry.port}/lv/app:1.0", options=SourceOptions(insecure=True)
    )

    assert image.digest == pushed.app.manifest.digest
