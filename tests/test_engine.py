"""Which docker engine endpoints trustbuild asks directly (trustbuild._internal.engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustbuild._internal.engine import DEFAULT_SOCKET, image_config, local_socket


@pytest.mark.parametrize(("env", "config", "expected"), [
    ({}, None, DEFAULT_SOCKET),
    ({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, None, "/run/user/1000/docker.sock"),
    ({"DOCKER_HOST": "tcp://10.0.0.1:2376"}, None, None),
    ({"DOCKER_HOST": "ssh://builder"}, None, None),
    ({"DOCKER_CONTEXT": "remote"}, None, None),
    ({"DOCKER_CONTEXT": "default"}, None, DEFAULT_SOCKET),
    ({}, {"currentContext": "remote"}, None),
    ({}, {"currentContext": "default", "auths": {}}, DEFAULT_SOCKET),
    ({}, "not json", None),
])
def test_only_the_plain_local_engine_is_asked_directly(tmp_path: Path, env: dict[str, str],
                                                       config: object,
                                                       expected: str | None) -> None:
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (tmp_path / "config.json").write_text(text)
    assert local_socket(env, tmp_path) == expected


def test_no_engine_means_ask_the_cli(tmp_path: Path) -> None:
    assert image_config(str(tmp_path / "no.sock"), "a/b@sha256:" + "0" * 64) is None
