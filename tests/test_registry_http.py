"""The registry adapter's rules that need no registry: references, plain HTTP, challenges."""

from __future__ import annotations

import pytest

from layerviz.adapters.registry_http.auth import Challenge, parse_challenges
from layerviz.adapters.registry_http.transport import plain_http_allowed
from layerviz.lib import reference as refs
from layerviz.lib.errors import SourceError
from layerviz.sources import SourceOptions, open_source


@pytest.mark.parametrize(
    ("text", "normalised", "api_host", "repository", "target"),
    [
        ("python", "docker.io/library/python:latest", "registry-1.docker.io", "library/python", "latest"),
        ("python:3.12", "docker.io/library/python:3.12", "registry-1.docker.io", "library/python", "3.12"),
        ("bitnami/redis", "docker.io/bitnami/redis:latest", "registry-1.docker.io", "bitnami/redis", "latest"),
        ("index.docker.io/library/alpine:3", "docker.io/library/alpine:3", "registry-1.docker.io", "library/alpine", "3"),
        ("127.0.0.1:5000/lv/app:1.0", "127.0.0.1:5000/lv/app:1.0", "127.0.0.1:5000", "lv/app", "1.0"),
        ("localhost/lv/app", "localhost/lv/app:latest", "localhost", "lv/app", "latest"),
        ("ghcr.io/o/r@sha256:" + "a" * 64, "ghcr.io/o/r@sha256:" + "a" * 64, "ghcr.io", "o/r", "sha256:" + "a" * 64),
    ],
)  # fmt: skip
def test_a_registry_reference_is_normalised_the_way_docker_does_it(
    text: str, normalised: str, api_host: str, repository: str, target: str
):
    with open_source(f"docker://{text}") as source:
        assert str(source.ref) == normalised
        assert source.client.host == api_host
        assert source.repo == repository
        assert source.ref.target == target


def test_an_invalid_registry_reference_is_refused_before_any_request():
    with pytest.raises(SourceError, match="invalid repository name"):
        open_source("docker://lv/App:1.0")


def test_a_docker_hub_reference_is_named_in_its_short_form_too():
    assert refs.parse("docker.io/library/python:latest").familiar() == "python:latest"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("localhost:5000", True),
        ("LOCALHOST", True),
        ("vm:5000", False),  # may resolve to 127.0.0.1, but names are not resolved
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("10.0.0.1:5000", False),
        ("registry-1.docker.io", False),
    ],
)
def test_plain_http_is_allowed_only_for_loopback_hosts(host: str, allowed: bool):
    assert plain_http_allowed(host, insecure=False) is allowed
    assert plain_http_allowed(host, insecure=True) is True


def test_insecure_is_passed_to_the_registry_client():
    with open_source("docker://example.com/a/b", SourceOptions(insecure=True)) as source:
        assert source.client.insecure is True


def test_a_bearer_challenge_keeps_the_commas_of_a_quoted_scope():
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull,push"'
    )

    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull,push",
            },
        )
    ]


def test_several_challenges_in_one_header_are_told_apart():
    header = 'Negotiate abc+/=, Basic realm="a \\"quoted\\" realm", BEARER Realm=auth , Service = s'

    assert parse_challenges(header) == [
        Challenge("negotiate", {}),
        Challenge("basic", {"realm": 'a "quoted" realm'}),
        Challenge("bearer", {"realm": "auth", "service": "s"}),
    ]


def test_a_challenge_without_parameters_is_still_a_challenge():
    assert parse_challenges("Basic") == [Challenge("basic", {})]
    assert parse_challenges("") == []
