"""Trust policy: per-registry trust servers, pinned roots, required signers, exceptions, modes.

The user's own files, searched in this order (the first that says something wins):

1. ``--config FILE``;
2. ``$XDG_CONFIG_HOME/trustbuild/config.toml`` (default ``~/.config/trustbuild/config.toml``).

Scalars in ``[trust]`` come from the first file that sets them.  ``[[server]]``,
``[[repository]]`` and ``[[exception]]`` rules are tried file by file, top to bottom; the first
rule that matches an image decides for it.  Docker's own variables still win where docker
defines them: ``DOCKER_CONTENT_TRUST_SERVER`` overrides every server URL.

``.trustbuild.toml`` at the root of the build context is the project's policy.  The build
context is untrusted input (whoever opened the pull request wrote it), so by default
(``[trust] project_policy = "tighten-only"`` in the user's policy) it may only add
restrictions: pins and required signers on top of the user's rules, trust on first use off,
enforce mode, a shorter grace, online mode.  Every setting that would loosen the user's policy
is ignored, logged as a warning, and listed in :attr:`Policy.ignored`.  ``"trusted"`` reads it
as one of the user's files (between ``--config`` and the user file); ``"ignore"`` does not read
it.  See docs/policy.md for the table of what tightens.

Registry names are matched as docker reaches them: the host lower-cased, and an explicit
``:443`` the same as none (both reach the same registry and trust server), so no spelling of a
name escapes a rule written for it.

Every key is validated; an error names the file, the key and what was expected.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustbuild._internal.dockerconfig import https_server_url
from trustbuild._internal.reference import (
    DEFAULT_DOMAIN,
    LEGACY_DEFAULT_DOMAIN,
    ImageReference,
)
from trustbuild.errors import PolicyError, PolicyRefusal

if TYPE_CHECKING:
    from trustbuild._internal.notary.roots import RootPin

log = logging.getLogger(__name__)

PROJECT_FILE = ".trustbuild.toml"
MODES = ("enforce", "warn")
TIGHTEN_ONLY, TRUSTED, IGNORE = "tighten-only", "trusted", "ignore"
PROJECT_POLICIES = (TIGHTEN_ONLY, TRUSTED, IGNORE)
HTTPS_PORT = "443"
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KEY_ID = re.compile(r"[0-9a-f]{64}")



@dataclass(frozen=True, slots=True)
class Glob:
    """``*`` matches within one path segment, ``**`` across segments, ``?`` one character.

    The registry part (the whole glob for a registry, else what comes before the first
    ``/``) is lower-cased, as the names it is matched against are (see :func:`registry_names`).
    """

    text: str
    regex: re.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, where: str, *, registry_only: bool = False) -> Glob:
        if not text or any(c in text for c in "[]{}!\\ "):
            raise PolicyError(f"{where}: bad glob {text!r}: use *, ** and ? only "
                              "(no brackets, braces, spaces or backslashes)")
        host, slash, rest = text.partition("/")
        pattern = text.lower() if registry_only else \
            (host.lower() + slash + rest if slash else text)
        out = []
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
            elif pattern[i] == "*":
                out.append("[^/]*")
                i += 1
            elif pattern[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(pattern[i]))
                i += 1
        return cls(text, re.compile("".join(out) + r"\Z"))

    def matches(self, value: str) -> bool:
        return self.regex.match(value) is not None

    def matches_any(self, values: Sequence[str]) -> bool:
        return any(self.regex.match(v) is not None for v in values)


def registry_names(domain: str) -> tuple[str, ...]:
    """The names policy rules see for a registry ``host[:port]``.

    Docker's reference grammar accepts upper-case hosts and any port; ``REGISTRY.example``,
    ``registry.example:443`` and ``registry.example:0443`` are different repository names to
    docker (and different GUNs to notary) but reach the same registry and, by docker's rule,
    the same trust server.  So the host is lower-cased, the port read as a number, and a name
    with https's default port and one without are both returned: a rule written for either
    spelling matches every spelling."""
    host, port = _split_port(domain)
    host = host.lower()
    if host == LEGACY_DEFAULT_DOMAIN:
        host = DEFAULT_DOMAIN
    if port is None or port == HTTPS_PORT:
        return (host, f"{host}:{HTTPS_PORT}")
    return (f"{host}:{port}",)


def _split_port(domain: str) -> tuple[str, str | None]:
    host, colon, port = domain.rpartition(":")
    if not colon or not port.isdigit() or host.endswith(":"):  # no port, or a bare IPv6
        return domain, None
    return host, str(int(port))


def repository_names(gun: str) -> tuple[str, ...]:
    """:func:`registry_names` of a repository (a GUN: ``registry/path``)."""
    domain, _, path = gun.partition("/")
    return tuple(f"{name}/{path}" for name in registry_names(domain))


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

    def describe_pin(self) -> str:
        parts = [f"key IDs {', '.join(self.root_keys)}"] if self.root_keys else []
        parts += [f"certificate {p}" for p in self.root_certs]
        parts += [f"CA {p}" for p in self.root_cas]
        return "; ".join(parts) + f"  [{self.source}]"


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


@dataclass(frozen=True, slots=True)
class IgnoredSetting:
    """A setting of the project's policy file (the build context's ``.trustbuild.toml``)
    that was not applied because it would loosen the user's policy."""

    file: str
    key: str  # as in the file: "trust.mode", "exception[0]", "server[1]"
    value: str  # as written, for people
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key} = {self.value} ignored: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "value": self.value,
                "reason": self.reason}


@dataclass(slots=True)
class Policy:
    files: list[str] = field(default_factory=list)
    tofu: Sourced = field(default_factory=lambda: Sourced(True, "default"))
    mode: Sourced = field(default_factory=lambda: Sourced("enforce", "default"))
    offline: Sourced = field(default_factory=lambda: Sourced(False, "default"))
    grace: Sourced = field(default_factory=lambda: Sourced(timedelta(0), "default"))
    project_policy: Sourced = field(default_factory=lambda: Sourced(TIGHTEN_ONLY, "default"))
    servers: list[ServerRule] = field(default_factory=list)
    repositories: list[RepositoryRule] = field(default_factory=list)
    exceptions: list[ExceptionRule] = field(default_factory=list)
    # A tighten-only project's [[repository]] rules: they add to the user's, never replace.
    project_repositories: list[RepositoryRule] = field(default_factory=list)
    # Whether the user's own files (before the project tightened it) trust on first use.
    user_tofu: bool = True
    ignored: list[IgnoredSetting] = field(default_factory=list)
    # [frontend] image: the frontend BuildKit reads every Dockerfile with (user files only).
    frontend: Sourced | None = None

    @property
    def warn_only(self) -> bool:
        return bool(self.mode.value == "warn")

    def server_rule(self, registry: str) -> ServerRule | None:
        names = registry_names(registry)
        return next((r for r in self.servers if r.registry.matches_any(names)), None)

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
        """The rule for *gun*: the user's first matching rule, with the required signers of
        the project's first matching rule added (see :meth:`root_pins` for pins)."""
        user = _first_rule(self.repositories, gun)
        project = _first_rule(self.project_repositories, gun)
        if project is None or not project.signers:
            return user
        if user is None:
            return RepositoryRule(project.match, (), (), (), project.signers,
                                  project.signer_keys, project.source)
        signer_keys = {role: tuple(dict.fromkeys(user.signer_keys.get(role, ())
                                                 + project.signer_keys.get(role, ())))
                       for role in {**user.signer_keys, **project.signer_keys}}
        return RepositoryRule(user.match, user.root_keys, user.root_certs, user.root_cas,
                              tuple(dict.fromkeys(user.signers + project.signers)),
                              signer_keys, f"{user.source} and {project.source}")

    def root_pins(self, gun: str) -> tuple[RepositoryRule, ...]:
        """The rules whose root pins *gun*'s root must satisfy, each of them.

        The user's first matching rule, if it pins; and the project's, which narrows the
        user's pin, or replaces trust on first use where the user's own policy allows that.
        Where the user's policy refuses unpinned repositories, a project's pin cannot make
        one trusted."""
        pins = []
        user = _first_rule(self.repositories, gun)
        if user is not None and user.pins_root:
            pins.append(user)
        project = _first_rule(self.project_repositories, gun)
        if project is not None and project.pins_root and (pins or self.user_tofu):
            pins.append(project)
        return tuple(pins)

    def root_pin(self, gun: str) -> RootPin | None:
        """The check a root of *gun* must pass (None: no pin applies)."""
        rules = self.root_pins(gun)
        if not rules:
            return None
        from trustbuild._internal.notary.trustpin import make_pin, narrowed

        return narrowed([make_pin(r.root_keys, r.root_certs, r.root_cas, r.source)
                         for r in rules])

    def exception_for(self, ref: ImageReference) -> ExceptionRule | None:
        texts = [text for name in registry_names(ref.domain)
                 for alias in [ImageReference(name, ref.path, ref.tag, ref.digest)]
                 for text in (str(alias), alias.familiar, alias.name)]
        return next((r for r in self.exceptions if r.match.matches_any(texts)), None)


def _first_rule(rules: Sequence[RepositoryRule], gun: str) -> RepositoryRule | None:
    names = repository_names(gun)
    return next((r for r in rules if r.match.matches_any(names)), None)


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
    paths: list[tuple[Path, bool]] = []  # the user's, (path, must exist)
    if config:
        paths.append((Path(config), True))
    user_file = user_config_path(env)
    if user_file is not None:
        paths.append((user_file, False))
    user_docs = [(str(path), _read(path)) for path, required in paths
                 if required or path.is_file()]
    project = Path(context) / PROJECT_FILE if context is not None else None
    if project is not None and not project.is_file():
        project = None
    policy = Policy()
    policy.project_policy = _project_policy(user_docs)
    trust_project = policy.project_policy.value
    docs = list(user_docs)
    if project is not None and trust_project == TRUSTED:
        docs.insert(1 if config else 0, (str(project), _read(project, project.parent)))
    for source, doc in docs:
        _merge(policy, doc, source, project=project is not None and source == str(project))
    policy.user_tofu = bool(policy.tofu.value)
    if project is not None and trust_project == TIGHTEN_ONLY:
        _tighten(policy, _read(project, project.parent), str(project))
    elif project is not None and trust_project == IGNORE:
        policy.ignored.append(IgnoredSetting(
            str(project), "*", "(the whole file)",
            f"trust.project_policy is {IGNORE!r} in {policy.project_policy.source}"))
    for item in policy.ignored:
        log.warning("%s", item)
    return policy


def _project_policy(docs: Sequence[tuple[str, dict[str, Any]]]) -> Sourced:
    """``trust.project_policy`` from the first of the user's files that sets it."""
    for source, doc in docs:
        trust = doc.get("trust")
        if isinstance(trust, dict) and "project_policy" in trust:
            value = _typed(trust["project_policy"], str, source, "trust.project_policy")
            if value not in PROJECT_POLICIES:
                raise PolicyError(f"{source}: trust.project_policy must be one of "
                                  f"{', '.join(PROJECT_POLICIES)}, not {value!r}")
            return Sourced(value, source)
    return Sourced(TIGHTEN_ONLY, "default")


def _read(path: Path, within: Path | None = None) -> dict[str, Any]:
    """A policy file's TOML; *within*: the build context a project's file must stay in."""
    from trustbuild._internal.files import MAX_SMALL_FILE, read_bounded

    data = read_bounded(path, limit=MAX_SMALL_FILE, within=within, error=PolicyError,
                        what="the policy file")
    try:
        import tomllib  # only when there is a policy file

        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{path}: not valid TOML: nested too deeply") from None


_TOP = {"trust", "server", "repository", "exception", "frontend"}
_SERVER_KEYS = {"registry", "url", "ca", "client_cert", "client_key"}
_TRUST = {"tofu": bool, "mode": str, "offline": bool, "grace": str, "project_policy": str}
_SCALARS = ("tofu", "mode", "offline", "grace")


def _trust_settings(doc: dict[str, Any], source: str) -> dict[str, Any]:
    """The validated ``[trust]`` scalars of a file (``project_policy`` apart)."""
    _no_unknown(doc, _TOP, source, "")
    trust = _table(doc.get("trust", {}), source, "trust")
    _no_unknown(trust, set(_TRUST), source, "trust.")
    settings = {}
    for key in _SCALARS:
        if key not in trust:
            continue
        value = _typed(trust[key], _TRUST[key], source, f"trust.{key}")
        if key == "mode" and value not in MODES:
            raise PolicyError(f"{source}: trust.mode must be one of {', '.join(MODES)}, "
                              f"not {value!r}")
        if key == "grace":
            value = parse_duration(value, f"{source}: trust.grace")
        settings[key] = value
    if "project_policy" in trust:
        settings["project_policy"] = trust["project_policy"]
    return settings


def _merge(policy: Policy, doc: dict[str, Any], source: str, *, project: bool = False) -> None:
    """One of the user's files (or a trusted project's), after those before it."""
    policy.files.append(source)
    for key, value in _trust_settings(doc, source).items():
        if key == "project_policy":
            if project:
                policy.ignored.append(_own_policy_only(source, value))
            continue  # read before the files are merged (_project_policy)
        current: Sourced = getattr(policy, key)
        if current.source == "default":  # else an earlier file already decided
            setattr(policy, key, Sourced(value, source))
    base = Path(source).parent  # (a project file here is one the user's policy trusts)
    for i, item in enumerate(_array(doc.get("server", []), source, "server")):
        policy.servers.append(_server(item, source, f"server[{i}]", base))
    for i, item in enumerate(_array(doc.get("repository", []), source, "repository")):
        policy.repositories.append(_repository(item, source, f"repository[{i}]", base))
    for i, item in enumerate(_array(doc.get("exception", []), source, "exception")):
        policy.exceptions.append(_exception(item, source, f"exception[{i}]"))
    if "frontend" in doc:
        image = _frontend(doc["frontend"], source)
        if project:
            policy.ignored.append(_frontend_ignored(source, image))
        elif policy.frontend is None:
            policy.frontend = Sourced(image, source)


def _frontend(value: Any, source: str) -> str:
    """``[frontend] image = "docker/dockerfile:1.N"``: a tag, whose signed digest is looked
    up like any pulled image's."""
    from trustbuild._internal.reference import parse_normalized
    from trustbuild.errors import InvalidReferenceError

    table = _table(value, source, "frontend")
    _no_unknown(table, {"image"}, source, "frontend.")
    image = _required(table, "image", str, source, "frontend")
    try:
        ref = parse_normalized(image)
    except InvalidReferenceError as exc:
        raise PolicyError(f"{source}: frontend.image {image!r}: {exc}") from None
    if ref.digest is not None or ref.tag is None:
        raise PolicyError(f"{source}: frontend.image must name a tag (its signed digest is "
                          f"looked up), not {image!r}")
    return str(image)


def _frontend_ignored(source: str, image: str) -> IgnoredSetting:
    return IgnoredSetting(source, "frontend.image", _shown(image),
                          "only the user's own policy chooses the frontend every Dockerfile "
                          "is read with")


def _own_policy_only(source: str, value: Any) -> IgnoredSetting:
    return IgnoredSetting(source, "trust.project_policy", _shown(value),
                          "only the user's own policy decides how far a project's policy is "
                          "trusted")


# For each [trust] scalar: whether a project's value is at least as strict as the user's.
_AT_LEAST_AS_STRICT: dict[str, Callable[[Any, Any], bool]] = {
    "tofu": lambda project, user: project is False or user is True,
    "mode": lambda project, user: project == "enforce" or user == "warn",
    "offline": lambda project, user: project is False or user is True,
    "grace": lambda project, user: project <= user,
}
_LOOSENS = {
    "tofu": "it would trust repositories on first use, which the user's policy refuses",
    "mode": "warn mode would build on images the user's policy refuses",
    "offline": "offline mode answers from the trust cache without seeing revocations or "
               "newer expiry",
    "grace": "a longer grace would accept expired trust data the user's policy refuses",
}


def _tighten(policy: Policy, doc: dict[str, Any], source: str) -> None:
    """A project's policy, tighten-only: what adds restrictions applies, the rest is
    listed in ``policy.ignored``."""
    policy.files.append(source)
    for key, value in _trust_settings(doc, source).items():
        if key == "project_policy":
            policy.ignored.append(_own_policy_only(source, value))
            continue
        current: Sourced = getattr(policy, key)
        if not _AT_LEAST_AS_STRICT[key](value, current.value):
            policy.ignored.append(IgnoredSetting(
                source, f"trust.{key}", _shown(value),
                f"{_LOOSENS[key]} ({_shown(current.value)} in {current.source})"))
        elif value != current.value:
            setattr(policy, key, Sourced(value, source))
    for i, item in enumerate(_array(doc.get("server", []), source, "server")):
        _no_unknown(item, _SERVER_KEYS, source, f"server[{i}].")  # its files are not read
        policy.ignored.append(IgnoredSetting(
            source, f"server[{i}]", _shown(item),
            "a project cannot choose trust servers, CAs or client certificates: they decide "
            "whose trust data and which TLS certificates are believed"))
    for i, item in enumerate(_array(doc.get("exception", []), source, "exception")):
        _exception(item, source, f"exception[{i}]")  # validated all the same
        policy.ignored.append(IgnoredSetting(
            source, f"exception[{i}]", _shown(item),
            "a project cannot allow images without trust data"))
    if "frontend" in doc:
        policy.ignored.append(_frontend_ignored(source, _frontend(doc["frontend"], source)))
    base = Path(source).parent
    for i, item in enumerate(_array(doc.get("repository", []), source, "repository")):
        # pins and signers only ever add to the user's rules (see Policy.root_pins)
        # an untrusted project's files stay in its build context
        policy.project_repositories.append(
            _repository(item, source, f"repository[{i}]", base, within=base))


def _shown(value: Any) -> str:
    """A setting as TOML-ish text, for people."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, timedelta):
        return f'"{format_duration(value)}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_shown(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def _exception(item: dict[str, Any], source: str, where: str) -> ExceptionRule:
    _no_unknown(item, {"match", "reason"}, source, where + ".")
    return ExceptionRule(
        Glob.parse(_required(item, "match", str, source, where), f"{source}: {where}.match"),
        _typed(item.get("reason", ""), str, source, f"{where}.reason"), source)


def _server(item: dict[str, Any], source: str, where: str, base: Path,
            within: Path | None = None) -> ServerRule:
    _no_unknown(item, _SERVER_KEYS, source, where + ".")
    url = item.get("url")
    if url is not None:
        url = https_server_url(_typed(url, str, source, f"{where}.url"),
                               f"{source}: {where}.url", PolicyError)
    cert, key = (_path(item, k, source, where, base, within)
                 for k in ("client_cert", "client_key"))
    if (cert is None) != (key is None):
        raise PolicyError(f"{source}: {where}: client_cert and client_key go together")
    return ServerRule(Glob.parse(_required(item, "registry", str, source, where),
                                 f"{source}: {where}.registry", registry_only=True),
                      url, _path(item, "ca", source, where, base, within), cert, key, source)


def _repository(item: dict[str, Any], source: str, where: str, base: Path,
                within: Path | None = None) -> RepositoryRule:
    keys = {"match", "root_keys", "root_cert", "root_ca", "signers", "signer_keys"}
    _no_unknown(item, keys, source, where + ".")
    match = Glob.parse(_required(item, "match", str, source, where), f"{source}: {where}.match")
    root_keys = tuple(_key_ids(item.get("root_keys", []), source, f"{where}.root_keys"))
    certs = tuple(_paths(item.get("root_cert", []), source, f"{where}.root_cert", base,
                         within))
    cas = tuple(_paths(item.get("root_ca", []), source, f"{where}.root_ca", base, within))
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


def _paths(value: Any, source: str, where: str, base: Path,
           within: Path | None = None) -> list[Path]:
    """Files a policy names, relative to its directory; with *within* (a project's file,
    written by whoever wrote the build context) each must resolve inside that directory."""
    items = [value] if isinstance(value, str) else _typed(value, list, source, where)
    out = []
    for item in items:
        path = base / _typed(item, str, source, where)
        if within is not None and not _inside(path, within):
            raise PolicyError(f"{source}: {where}: {item!r} leads outside the build context "
                              f"{str(within)!r}: a project's policy names only its own files")
        if not path.is_file():
            raise PolicyError(f"{source}: {where}: file {str(path)!r} not found")
        out.append(path)
    return out


def _inside(path: Path, directory: Path) -> bool:
    real, root = os.path.realpath(path), os.path.realpath(directory)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _path(item: dict[str, Any], key: str, source: str, where: str, base: Path,
          within: Path | None = None) -> Path | None:
    if key not in item:
        return None
    return _paths(item[key], source, f"{where}.{key}", base, within)[0]


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


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration`: ``1d12h``, ``90s`` → ``1m30s``, ``0s``."""
    seconds, parts = int(value.total_seconds()), []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """What the policy decides for one image, each setting with the file that set it."""

    image: ImageReference
    server: ServerChoice
    root_pins: tuple[RepositoryRule, ...]  # every one must hold
    tofu: Sourced
    signers: RepositoryRule | None  # required signers beyond the base rule
    exception: ExceptionRule | None
    mode: Sourced
    offline: Sourced
    grace: Sourced
    project_policy: Sourced
    ignored: tuple[IgnoredSetting, ...]
    files: tuple[str, ...]

    @property
    def unpinned_refused(self) -> bool:
        """No pin applies and trust on first use is off: the image is refused."""
        return not self.root_pins and not self.tofu.value


def effective_for(policy: Policy, ref: ImageReference,
                  env: Mapping[str, str]) -> EffectivePolicy:
    """The effective policy for one image (``trustbuild policy show``)."""
    rule = policy.repository_rule(ref.name)
    return EffectivePolicy(
        ref, policy.server_for(ref, env), policy.root_pins(ref.name), policy.tofu,
        rule if rule is not None and rule.signers else None, policy.exception_for(ref),
        policy.mode, policy.offline, policy.grace, policy.project_policy,
        tuple(policy.ignored), tuple(policy.files))
