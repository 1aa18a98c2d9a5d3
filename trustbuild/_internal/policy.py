"""Trust policy: per-registry trust servers, pinned roots, required signers, exceptions, modes.

Files, searched in this order (the first that says something wins):

1. ``--config FILE``;
2. ``.trustbuild.toml`` at the root of the build context (the project's policy travels with
   the code that is built);
3. ``$XDG_CONFIG_HOME/trustbuild/config.toml`` (default ``~/.config/trustbuild/config.toml``).

Scalars in ``[trust]`` come from the first file that sets them.  ``[[server]]``,
``[[repository]]`` and ``[[exception]]`` rules are tried file by file, top to bottom; the first
rule that matches an image decides for it.  Docker's own variables still win where docker
defines them: ``DOCKER_CONTENT_TRUST_SERVER`` overrides every server URL.

Every key is validated; an error names the file, the key and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from trustbuild._internal.reference import ImageReference
from trustbuild.errors import PolicyError, PolicyRefusal

PROJECT_FILE = ".trustbuild.toml"
MODES = ("enforce", "warn")
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KEY_ID = re.compile(r"[0-9a-f]{64}")



@dataclass(frozen=True, slots=True)
class Glob:
    """``*`` matches within one path segment, ``**`` across segments, ``?`` one character."""

    text: str
    regex: re.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, where: str) -> Glob:
        if not text or any(c in text for c in "[]{}!\\ "):
            raise PolicyError(f"{where}: bad glob {text!r}: use *, ** and ? only "
                              "(no brackets, braces, spaces or backslashes)")
        out = []
        i = 0
        while i < len(text):
            if text.startswith("**", i):
                out.append(".*")
                i += 2
            elif text[i] == "*":
                out.append("[^/]*")
                i += 1
            elif text[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(text[i]))
                i += 1
        return cls(text, re.compile("".join(out) + r"\Z"))

    def matches(self, value: str) -> bool:
        return self.regex.match(value) is not None


@dataclass(frozen=True, slots=True)
class Sourced:
    """A setting and the file that set it."""

    value: Any
    source: str


@dataclass(frozen=True, slots=True)
class ServerRule:
    registry: Glob
    url: str | None
    ca: Path | None
    client_cert: Path | None
    client_key: Path | None
    source: str


@dataclass(frozen=True, slots=True)
class RepositoryRule:
    match: Glob
    root_keys: tuple[str, ...]
    root_certs: tuple[Path, ...]
    root_cas: tuple[Path, ...]
    signers: tuple[str, ...]
    signer_keys: Mapping[str, tuple[str, ...]]
    source: str

    @property
    def pins_root(self) -> bool:
        return bool(self.root_keys or self.root_certs or self.root_cas)


@dataclass(frozen=True, slots=True)
class ExceptionRule:
    match: Glob
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class ServerChoice:
    url: str
    ca: Path | None
    client_cert: Path | None
    client_key: Path | None
    source: str


@dataclass(slots=True)
class Policy:
    files: list[str] = field(default_factory=list)
    tofu: Sourced = field(default_factory=lambda: Sourced(True, "default"))
    mode: Sourced = field(default_factory=lambda: Sourced("enforce", "default"))
    offline: Sourced = field(default_factory=lambda: Sourced(False, "default"))
    grace: Sourced = field(default_factory=lambda: Sourced(timedelta(0), "default"))
    servers: list[ServerRule] = field(default_factory=list)
    repositories: list[RepositoryRule] = field(default_factory=list)
    exceptions: list[ExceptionRule] = field(default_factory=list)

    @property
    def warn_only(self) -> bool:
        return bool(self.mode.value == "warn")

    def server_rule(self, registry: str) -> ServerRule | None:
        return next((r for r in self.servers if r.registry.matches(registry)), None)

    def server_for(self, ref: ImageReference, env: Mapping[str, str]) -> ServerChoice:
        """The trust server of *ref*: DOCKER_CONTENT_TRUST_SERVER, a rule, docker's rule."""
        from trustbuild._internal.dockerconfig import default_trust_server

        rule = self.server_rule(ref.domain)
        ca = rule.ca if rule else None
        cert = rule.client_cert if rule else None
        key = rule.client_key if rule else None
        if env.get("DOCKER_CONTENT_TRUST_SERVER"):
            return ServerChoice(default_trust_server(ref, env), ca, cert, key,
                                "DOCKER_CONTENT_TRUST_SERVER")
        if rule is not None and rule.url:
            return ServerChoice(rule.url, ca, cert, key, rule.source)
        return ServerChoice(default_trust_server(ref, env), ca, cert, key,
                            rule.source if rule else "docker's default")

    def repository_rule(self, gun: str) -> RepositoryRule | None:
        return next((r for r in self.repositories if r.match.matches(gun)), None)

    def exception_for(self, ref: ImageReference) -> ExceptionRule | None:
        texts = {str(ref), ref.familiar, ref.name}
        return next((r for r in self.exceptions if any(r.match.matches(t) for t in texts)),
                    None)


def check_required_signers(rule: RepositoryRule, tag: str, digest: str, role: str,
                           signed: Mapping[str, tuple[str | None, frozenset[str]]]) -> None:
    """Raise :class:`PolicyRefusal` unless every role *rule* requires lists *tag* with the
    *digest* that *role* signed, signed by the keys the rule names.  *signed* gives, for each
    required role, the digest it lists for the tag where its paths cover it (None: it lists
    none) and the key IDs whose signatures on it verify."""
    for role_name in rule.signers:
        listed, key_ids = signed.get(role_name, (None, frozenset()))
        if listed is None:
            raise PolicyRefusal(f"{role_name} has not signed {tag}, and {rule.source} "
                                "requires it")
        if listed != digest:
            raise PolicyRefusal(f"{role_name} signed {listed} for {tag}, but {role} signed "
                                f"{digest}; {rule.source} requires one digest from every "
                                "signer")
        missing = set(rule.signer_keys.get(role_name, ())) - key_ids
        if missing:
            raise PolicyRefusal(f"{role_name} is not signed by key(s) "
                                f"{', '.join(sorted(missing))}, which {rule.source} requires")


def user_config_path(env: Mapping[str, str]) -> Path | None:
    """The user's policy file; None when there is no home to keep one in."""
    base = env.get("XDG_CONFIG_HOME")
    if not base:
        try:
            base = str(Path(env.get("HOME") or Path.home()) / ".config")
        except (RuntimeError, KeyError):  # no HOME and no passwd entry (an arbitrary UID)
            return None
    return Path(base) / "trustbuild" / "config.toml"


def load(*, config: str | None = None, context: str | None = None,
         env: Mapping[str, str] | None = None) -> Policy:
    """The effective policy for a build whose context is *context*."""
    env = os.environ if env is None else env
    paths: list[tuple[Path, bool]] = []  # (path, must exist)
    if config:
        paths.append((Path(config), True))
    if context is not None:
        paths.append((Path(context) / PROJECT_FILE, False))
    user_file = user_config_path(env)
    if user_file is not None:
        paths.append((user_file, False))
    policy = Policy()
    for path, required in paths:
        if not required and not path.is_file():
            continue
        _merge(policy, _read(path), str(path))
    return policy


def _read(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file: "
                          f"{exc.strerror or exc}") from None
    try:
        import tomllib  # only when there is a policy file

        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None


_TOP = {"trust", "server", "repository", "exception"}
_TRUST = {"tofu": bool, "mode": str, "offline": bool, "grace": str}


def _merge(policy: Policy, doc: dict[str, Any], source: str) -> None:
    policy.files.append(source)
    _no_unknown(doc, _TOP, source, "")
    trust = _table(doc.get("trust", {}), source, "trust")
    _no_unknown(trust, set(_TRUST), source, "trust.")
    for key, kind in _TRUST.items():
        if key not in trust:
            continue
        value = _typed(trust[key], kind, source, f"trust.{key}")
        current: Sourced = getattr(policy, key)
        if current.source != "default":
            continue  # an earlier file already decided
        if key == "mode" and value not in MODES:
            raise PolicyError(f"{source}: trust.mode must be one of {', '.join(MODES)}, "
                              f"not {value!r}")
        if key == "grace":
            value = parse_duration(value, f"{source}: trust.grace")
        setattr(policy, key, Sourced(value, source))
    base = Path(source).parent
    for i, item in enumerate(_array(doc.get("server", []), source, "server")):
        policy.servers.append(_server(item, source, f"server[{i}]", base))
    for i, item in enumerate(_array(doc.get("repository", []), source, "repository")):
        policy.repositories.append(_repository(item, source, f"repository[{i}]", base))
    for i, item in enumerate(_array(doc.get("exception", []), source, "exception")):
        where = f"exception[{i}]"
        _no_unknown(item, {"match", "reason"}, source, where + ".")
        policy.exceptions.append(ExceptionRule(
            Glob.parse(_required(item, "match", str, source, where), f"{source}: {where}.match"),
            _typed(item.get("reason", ""), str, source, f"{where}.reason"), source))


def _server(item: dict[str, Any], source: str, where: str, base: Path) -> ServerRule:
    _no_unknown(item, {"registry", "url", "ca", "client_cert", "client_key"}, source,
                where + ".")
    url = item.get("url")
    if url is not None:
        url = _typed(url, str, source, f"{where}.url")
        if not url.startswith("https://") or len(url) <= len("https://"):
            raise PolicyError(f"{source}: {where}.url must be an https:// URL, not {url!r}")
        url = url.rstrip("/")
    cert, key = (_path(item, k, source, where, base) for k in ("client_cert", "client_key"))
    if (cert is None) != (key is None):
        raise PolicyError(f"{source}: {where}: client_cert and client_key go together")
    return ServerRule(Glob.parse(_required(item, "registry", str, source, where),
                                 f"{source}: {where}.registry"),
                      url, _path(item, "ca", source, where, base), cert, key, source)


def _repository(item: dict[str, Any], source: str, where: str, base: Path) -> RepositoryRule:
    keys = {"match", "root_keys", "root_cert", "root_ca", "signers", "signer_keys"}
    _no_unknown(item, keys, source, where + ".")
    match = Glob.parse(_required(item, "match", str, source, where), f"{source}: {where}.match")
    root_keys = tuple(_key_ids(item.get("root_keys", []), source, f"{where}.root_keys"))
    certs = tuple(_paths(item.get("root_cert", []), source, f"{where}.root_cert", base))
    cas = tuple(_paths(item.get("root_ca", []), source, f"{where}.root_ca", base))
    signers = tuple(_role(s, source, f"{where}.signers") for s in
                    _typed(item.get("signers", []), list, source, f"{where}.signers"))
    signer_keys_raw = _table(item.get("signer_keys", {}), source, f"{where}.signer_keys")
    signer_keys = {}
    for role, ids in signer_keys_raw.items():
        name = _role(role, source, f"{where}.signer_keys")
        if name not in signers:
            raise PolicyError(f"{source}: {where}.signer_keys names {name}, which is not in "
                              "signers")
        signer_keys[name] = tuple(_key_ids(ids, source, f"{where}.signer_keys.{role}"))
    return RepositoryRule(match, root_keys, certs, cas, signers, signer_keys, source)


def _role(value: Any, source: str, where: str) -> str:
    name = _typed(value, str, source, where)
    name = name if name.startswith("targets") else f"targets/{name}"
    if not re.fullmatch(r"targets(/[-a-z0-9_]+)*", name):
        raise PolicyError(f"{source}: {where}: {value!r} is not a role name "
                          "(targets, targets/releases, targets/<name>)")
    return name


def _key_ids(value: Any, source: str, where: str) -> list[str]:
    ids = _typed(value, list, source, where)
    for key_id in ids:
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise PolicyError(f"{source}: {where}: expected 64 lowercase hex digits (a key "
                              f"ID), not {key_id!r}")
    return list(ids)


def _paths(value: Any, source: str, where: str, base: Path) -> list[Path]:
    items = [value] if isinstance(value, str) else _typed(value, list, source, where)
    out = []
    for item in items:
        path = base / _typed(item, str, source, where)
        if not path.is_file():
            raise PolicyError(f"{source}: {where}: file {str(path)!r} not found")
        out.append(path)
    return out


def _path(item: dict[str, Any], key: str, source: str, where: str, base: Path) -> Path | None:
    if key not in item:
        return None
    return _paths(item[key], source, f"{where}.{key}", base)[0]


def _no_unknown(table: dict[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise PolicyError(f"{source}: unknown key {prefix}{key} (expected one of: "
                              f"{', '.join(sorted(allowed))})")


_TYPE_NAMES = {bool: "true or false", str: "a string", list: "a list", dict: "a table"}


def _typed(value: Any, kind: type, source: str, where: str) -> Any:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise PolicyError(f"{source}: {where} must be {_TYPE_NAMES[kind]}, not "
                          f"{type(value).__name__} {value!r}")
    return value


def _table(value: Any, source: str, where: str) -> dict[str, Any]:
    return dict(_typed(value, dict, source, where))


def _array(value: Any, source: str, where: str) -> Sequence[dict[str, Any]]:
    items = _typed(value, list, source, where)
    for item in items:
        _typed(item, dict, source, f"{where} entry")
    return list(items)


def _required(item: dict[str, Any], key: str, kind: type, source: str, where: str) -> Any:
    if key not in item:
        raise PolicyError(f"{source}: {where}.{key} is required")
    return _typed(item[key], kind, source, f"{where}.{key}")


def parse_duration(text: str, where: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d`` or combinations such as ``1d12h``."""
    pos, seconds = 0, 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise PolicyError(f"{where} must be a duration such as 30m, 12h or 7d, not {text!r}")
    return timedelta(seconds=seconds)


def describe_for(policy: Policy, ref: ImageReference,
                 env: Mapping[str, str]) -> dict[str, str]:
    """The effective policy for one image, each setting with the file that set it."""
    server = policy.server_for(ref, env)
    tls = []
    if server.ca:
        tls.append(f"CA {server.ca}")
    if server.client_cert:
        tls.append(f"client certificate {server.client_cert}")
    rule = policy.repository_rule(ref.name)
    pin = "none: trust on first use" if policy.tofu.value else \
        "none, and trust on first use is off: refused"
    signers = "targets/releases, else targets (the base rule)"
    if rule is not None:
        parts = [f"key IDs {', '.join(rule.root_keys)}"] if rule.root_keys else []
        parts += [f"certificate {p}" for p in rule.root_certs]
        parts += [f"CA {p}" for p in rule.root_cas]
        if parts:
            pin = "; ".join(parts) + f"  [{rule.source}]"
        if rule.signers:
            keys = "".join(f" ({role}: {', '.join(ids)})"
                           for role, ids in rule.signer_keys.items())
            signers = (f"base rule, and all of {', '.join(rule.signers)}{keys} on one digest"
                       f"  [{rule.source}]")
    exception = policy.exception_for(ref)
    return {
        "image": str(ref),
        "server": f"{server.url}  [{server.source}]",
        "tls": (", ".join(tls) + f"  [{server.source}]") if tls else
        "system store, or $DOCKER_CONFIG/tls/<host:port>/",
        "root pin": pin,
        "tofu": f"{'on' if policy.tofu.value else 'off'}  [{policy.tofu.source}]",
        "signers": signers,
        "exception": (f"allowed without trust data ({exception.match.text})  "
                      f"[{exception.source}]") if exception else "none",
        "mode": f"{policy.mode.value}  [{policy.mode.source}]",
        "offline": f"{'on' if policy.offline.value else 'off'}  [{policy.offline.source}]",
        "grace": f"{policy.grace.value}  [{policy.grace.source}]",
        "files": ", ".join(policy.files) or "none",
    }
