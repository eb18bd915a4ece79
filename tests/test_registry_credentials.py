"""``docker://REF`` with the credentials docker keeps: ``config.json`` in ``$DOCKER_CONFIG``
(``auths``, ``credHelpers``, ``credsStore``) and a real ``docker-credential-test`` helper on
``PATH``, against the real registries of ``tests/registries.py`` (Basic auth, and a token
server that also speaks the OAuth2 refresh-token flow).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest

from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.lib import docker_config, synth
from layerviz.lib.errors import ConfigError, SourceError
from layerviz.sources import SourceOptions

from .registries import PASSWORD, REFRESH_TOKEN, USER, Registry, TokenServer

pytestmark = [pytest.mark.django_db, pytest.mark.registry]

LAYER = synth.layer([synth.file("etc/creds", b"from docker's config\n")])
HELPER = """\
#!{python}
# docker-credential-test: serves credentials from store.json beside it, as the
# docker-credential-helpers protocol says; logs every call to calls.log.
import json, pathlib, sys

here = pathlib.Path(__file__).parent
server = sys.stdin.read().strip()
with open(here / "calls.log", "a") as log:
    log.write(" ".join(sys.argv[1:]) + " " + server + "\\n")
entry = json.loads((here / "store.json").read_text()).get(server)
if entry == "fail":
    print("the keychain is locked", file=sys.stderr)
    sys.exit(3)
if entry is None:
    print("credentials not found in native keychain")
    sys.exit(1)
print(json.dumps(dict(ServerURL=server, **entry)))
"""


@pytest.fixture(scope="module")
def pushed(
    basic_registry: Registry, token_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> synth.BuiltImage:
    image = synth.Image([LAYER], tags=["1.0"], compression="gzip")
    archive = synth.write_oci_layout(
        tmp_path_factory.mktemp("creds") / "c.tar", [image], as_tar=True
    )
    for registry in (basic_registry, token_registry):
        registry.push(f"oci-archive:{archive}:1.0", "lv/creds:1.0")
    return image.build()


class Docker:
    """A ``DOCKER_CONFIG`` directory and a helper on ``PATH``, for one test."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dir = root / "docker"
        self.bin = root / "bin"
        self.dir.mkdir()
        self.bin.mkdir()
        helper = self.bin / "docker-credential-test"
        helper.write_text(HELPER.format(python=sys.executable))
        helper.chmod(0o755)
        self.store({})
        monkeypatch.setenv("DOCKER_CONFIG", str(self.dir))
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")

    def config(self, doc: object) -> None:
        (self.dir / "config.json").write_text(json.dumps(doc))

    def store(self, entries: dict) -> None:
        (self.bin / "store.json").write_text(json.dumps(entries))

    def calls(self) -> list[str]:
        log = self.bin / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Docker:
    return Docker(tmp_path, monkeypatch)


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# --- auths ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["{host}", "https://{host}", "http://{host}/v1/"])
def test_auths_in_config_json_pull_from_a_basic_registry(
    pushed: synth.BuiltImage, basic_registry: Registry, docker: Docker, key: str
):
    docker.config(
        {"auths": {key.format(host=basic_registry.host): {"auth": _auth(USER, PASSWORD)}}}
    )

    [image] = ingest(f"docker://{basic_registry.host}/lv/creds:1.0")

    assert image.digest == pushed.manifest.digest


def test_auths_authenticate_the_token_request(
    pushed: synth.BuiltImage, token_registry: Registry, token_service: TokenServer, docker: Docker
):
    docker.config({"auths": {token_registry.host: {"auth": _auth(USER, PASSWORD)}}})

    ingest(f"docker://{token_registry.host}/lv/creds:1.0")

    assert token_service.requests == [(["repository:lv/creds:pull"], USER)]


def test_wrong_credentials_from_the_config_are_refused_naming_where_they_came_from(
    pushed: synth.BuiltImage, basic_registry: Registry, docker: Docker
):
    docker.config({"auths": {basic_registry.host: {"auth": _auth(USER, "stale")}}})

    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{basic_registry.host}/lv/creds:1.0")

    message = str(caught.value)
    assert f"registry {basic_registry.host} refused access to lv/creds (401" in message
    assert f"the credentials came from {docker.dir / 'config.json'}" in message
    assert Image.objects.count() == 0


def test_an_identity_token_is_exchanged_at_the_token_service_as_a_refresh_token(
    pushed: synth.BuiltImage, token_registry: Registry, token_service: TokenServer, docker: Docker
):
    docker.config({"auths": {token_registry.host: {"auth": "", "identitytoken": REFRESH_TOKEN}}})

    [image] = ingest(f"docker://{token_registry.host}/lv/creds:1.0")

    assert image.digest == pushed.manifest.digest
    assert token_service.requests == []  # no password sent, no anonymous GET
    [form] = token_service.refreshes
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == REFRESH_TOKEN
    assert form["scope"] == "repository:lv/creds:pull"
    assert form["client_id"] == "layerviz"


def test_an_identity_token_the_token_service_refuses_is_named(
    pushed: synth.BuiltImage, token_registry: Registry, docker: Docker
):
    docker.config({"auths": {token_registry.host: {"identitytoken": "revoked"}}})

    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{token_registry.host}/lv/creds:1.0")

    assert "refused the identity token" in str(caught.value)
    assert str(docker.dir / "config.json") in str(caught.value)


# --- credential helpers -----------------------------------------------------------------------


def test_the_credential_helper_for_the_host_answers_for_it(
    pushed: synth.BuiltImage, basic_registry: Registry, docker: Docker
):
    docker.config({"credHelpers": {basic_registry.host: "test"}})
    docker.store({basic_registry.host: {"Username": USER, "Secret": PASSWORD}})

    [image] = ingest(f"docker://{basic_registry.host}/lv/creds:1.0")

    assert image.digest == pushed.manifest.digest
    assert docker.calls() == [f"get {basic_registry.host}"]


def test_the_creds_store_answers_for_a_token_registry(
    pushed: synth.BuiltImage, token_registry: Registry, token_service: TokenServer, docker: Docker
):
    docker.config({"credsStore": "test", "auths": {token_registry.host: {}}})
    docker.store({token_registry.host: {"Username": USER, "Secret": PASSWORD}})

    ingest(f"docker://{token_registry.host}/lv/creds:1.0")

    assert token_service.requests == [(["repository:lv/creds:pull"], USER)]


def test_a_helper_may_answer_with_an_identity_token(
    pushed: synth.BuiltImage, token_registry: Registry, token_service: TokenServer, docker: Docker
):
    docker.config({"credsStore": "test"})
    docker.store({token_registry.host: {"Username": "<token>", "Secret": REFRESH_TOKEN}})

    ingest(f"docker://{token_registry.host}/lv/creds:1.0")

    assert [f["refresh_token"] for f in token_service.refreshes] == [REFRESH_TOKEN]


def test_the_host_helper_comes_before_the_store_and_the_store_before_auths(
    pushed: synth.BuiltImage, basic_registry: Registry, docker: Docker
):
    bad = {"auth": _auth(USER, "wrong")}
    # The store names a helper that does not exist: asking it would fail the pull.
    docker.config(
        {
            "credHelpers": {basic_registry.host: "test"},
            "credsStore": "absent",
            "auths": {basic_registry.host: bad},
        }
    )
    docker.store({basic_registry.host: {"Username": USER, "Secret": PASSWORD}})

    ingest(f"docker://{basic_registry.host}/lv/creds:1.0")

    assert docker.calls() == [f"get {basic_registry.host}"]


def test_a_helper_without_the_credentials_leaves_them_to_auths(
    pushed: synth.BuiltImage, basic_registry: Registry, docker: Docker
):
    docker.config(
        {"credsStore": "test", "auths": {basic_registry.host: {"auth": _auth(USER, PASSWORD)}}}
    )

    [image] = ingest(f"docker://{basic_registry.host}/lv/creds:1.0")

    assert image.digest == pushed.manifest.digest
    assert docker.calls() == [f"get {basic_registry.host}"]


def test_credentials_given_explicitly_come_before_dockers(
    pushed: synth.BuiltImage, basic_registry: Registry, docker: Docker
):
    docker.config(
        {"credsStore": "absent", "auths": {basic_registry.host: {"auth": _auth(USER, "x")}}}
    )

    ingest(
        f"docker://{basic_registry.host}/lv/creds:1.0",
        options=SourceOptions(username=USER, password=PASSWORD),
    )


def test_a_helper_that_fails_is_named_with_what_it_said(
    pushed: synth.BuiltImage, basic_registry: Registry, docker: Docker
):
    docker.config({"credHelpers": {basic_registry.host: "test"}})
    docker.store({basic_registry.host: "fail"})

    with pytest.raises(SourceError) as caught:
        ingest(f"docker://{basic_registry.host}/lv/creds:1.0")

    message = str(caught.value)
    assert f"credential helper docker-credential-test failed for {basic_registry.host}" in message
    assert "(exit 3): the keychain is locked" in message
    assert Image.objects.count() == 0


def test_a_helper_that_is_not_installed_is_named(basic_registry: Registry, docker: Docker):
    docker.config({"credsStore": "absent"})

    with pytest.raises(SourceError, match="docker-credential-absent is not on PATH"):
        ingest(f"docker://{basic_registry.host}/lv/creds:1.0")


def test_a_malformed_config_json_is_a_clear_error_naming_the_file(
    basic_registry: Registry, docker: Docker
):
    (docker.dir / "config.json").write_text('{"auths": {')

    with pytest.raises(ConfigError) as caught:
        ingest(f"docker://{basic_registry.host}/lv/creds:1.0")

    assert str(caught.value).startswith(
        f"the docker config {docker.dir / 'config.json'} is not valid JSON"
    )


def test_an_auth_that_is_not_base64_is_a_clear_error_naming_the_file(
    basic_registry: Registry, docker: Docker
):
    docker.config({"auths": {basic_registry.host: {"auth": "not base64!"}}})

    with pytest.raises(
        ConfigError, match=r"config\.json: the auth of '127\.0\.0\.1:\d+' is not base64"
    ):
        ingest(f"docker://{basic_registry.host}/lv/creds:1.0")


# --- where docker looks, and the keys it uses ---------------------------------------------------


def test_without_docker_config_the_home_directory_is_read(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"registry.example:5000": {"auth": _auth("me", "pw")}}})
    )

    found = docker_config.credentials_for("registry.example:5000")

    assert found is not None and (found.username, found.password) == ("me", "pw")


@pytest.mark.parametrize("host", ["registry-1.docker.io", "index.docker.io", "docker.io"])
def test_docker_hub_is_the_key_docker_login_writes_for_it(host: str, docker: Docker):
    docker.config({"credsStore": "test"})
    docker.store({"https://index.docker.io/v1/": {"Username": "hubuser", "Secret": "hubpw"}})

    found = docker_config.credentials_for(host)

    assert found is not None and found.username == "hubuser"
    assert docker.calls() == ["get https://index.docker.io/v1/"]


def test_another_registrys_credentials_are_not_used(docker: Docker):
    docker.config({"auths": {"other.example": {"auth": _auth("me", "pw")}}})

    assert docker_config.credentials_for("registry.example") is None


def test_a_helper_is_asked_with_the_host_and_port_only(docker: Docker):
    assert docker_config.server_key("Registry.Example:5000") == "registry.example:5000"
    assert docker_config.server_key("docker.io") == "https://index.docker.io/v1/"
