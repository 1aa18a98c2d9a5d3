"""What to tell a person about an image that is not trusted: why, in one short line, and
what to do next.  Pure text from the error's reason and context; ``output`` places it."""

from __future__ import annotations

import re

from trustbuild._internal.reference import ImageReference
from trustbuild.errors import NoTrustData, Reason, TrustError

ACCEPTED = "targets/releases or targets"
# Failures of a trust server itself: the same cause for every image it serves, told once.
SERVER_REASONS = frozenset({Reason.NETWORK, Reason.PROXY, Reason.TLS, Reason.TIMEOUT,
                            Reason.SERVER, Reason.AUTH, Reason.TOO_LARGE})


def why(error: TrustError, ref: ImageReference) -> str:
    """Why *ref* is not trusted, once: the error without the repository and server it
    already names (the verdict line names the image)."""
    tag = ref.tag or ref.digest or "latest"
    if isinstance(error, NoTrustData):
        if error.reason is Reason.SIGNED_BY_OTHER_ROLE:
            return (f"No trust data for {tag}: signed only by {', '.join(error.signed_by)}; "
                    f"trustbuild accepts {ACCEPTED}")
        if error.reason is Reason.NO_TRUST_DATA:
            detail = error.message.partition("; ")[2]  # what the registry said, if asked
            return (f"No trust data for {tag}: the trust server {error.server} has no trust "
                    "data for this repository" + (f"; {detail}" if detail else ""))
        if error.reason is Reason.REPOSITORY_NOT_FOUND:
            return f"No trust data for {tag}: {error.message}"
        if error.message.startswith(f"No trust data for {tag}") and ":" not in \
                error.message.removeprefix(f"No trust data for {tag}"):
            return f"No trust data for {tag}: not signed in {ACCEPTED}"
        return error.message
    return error.message


def hint(error: TrustError, ref: ImageReference, trust_dir: str | None = None) -> str | None:
    """The next step for the person who reads the error, or None."""
    tag = ref.tag or "latest"
    reason = error.reason
    if reason is Reason.NOT_SIGNED:
        return (f"sign the tag into targets/releases (`docker trust sign {ref.familiar}`); "
                f"`trustbuild inspect {ref.familiar_name}` lists what is signed")
    if reason is Reason.SIGNED_BY_OTHER_ROLE:
        return (f"have a signer of targets/releases sign {tag} (`docker trust sign`); a "
                "policy can require more signers, never fewer ([[repository]] signers, "
                "docs/policy.md)")
    if reason is Reason.NO_TRUST_DATA:
        return ("check the trust server (`trustbuild policy show "
                f"{ref.familiar}`: DOCKER_CONTENT_TRUST_SERVER or [[server]]), or sign the "
                "repository")
    if reason is Reason.REPOSITORY_NOT_FOUND:
        return "check the image name: the registry does not know it"
    if reason is Reason.REQUIRED_SIGNER:
        return "your policy requires more signers for this repository (docs/policy.md)"
    if reason is Reason.TLS:
        return _tls_hint(error)
    if reason is Reason.TIMEOUT:
        return ("is the trust server up and reachable? TRUSTBUILD_TIMEOUT sets how long "
                "trustbuild waits")
    if reason is Reason.PROXY:
        return "check HTTPS_PROXY and NO_PROXY (`trustbuild -v` shows the route taken)"
    if reason is Reason.NETWORK:
        return ("check the trust server's URL (`trustbuild policy show "
                f"{ref.familiar}`) and that it is up; `-v` shows the server and proxy used")
    if reason is Reason.AUTH:
        return f"log in to the registry: `docker login {ref.domain}`"
    if reason is Reason.EXPIRED:
        return ("the publisher must re-sign (or publish a fresh timestamp); trustbuild never "
                "accepts expired trust data online")
    if reason in (Reason.ROOT_CHANGED, Reason.PIN_MISMATCH):
        return _root_hint(error, ref, trust_dir)
    if reason is Reason.NO_PINNED_ROOT:
        return ("pin this repository's root ([[repository]] root_keys, docs/policy.md); "
                "`trustbuild inspect` shows its root key IDs")
    if reason is Reason.OFFLINE:
        return "run once online to fill the trust cache, or drop --offline"
    if reason in (Reason.BAD_SIGNATURE, Reason.ROLLBACK, Reason.HASH_MISMATCH,
                  Reason.BAD_METADATA, Reason.TOO_LARGE, Reason.SERVER):
        return ("the trust server sent data that does not verify: do not build on it; tell "
                "the server's operators")
    return None


def _tls_hint(error: TrustError) -> str:
    host = error.server or "<host:port>"
    match = re.search(r"\(CA: (.+)\)$", error.message)
    used = match.group(1) if match else ""
    if "verify failed" not in error.message:
        return "the TLS handshake failed: is this an https trust server?"
    if not used or used == "the system store":
        return (f"no CA file is configured for {host}: put the trust server's CA certificate "
                f"in $DOCKER_CONFIG/tls/{host}/ca.crt (as for docker), or `ca` in a [[server]] "
                "rule of your policy")
    return (f"the CA file {used} does not verify {host}'s certificate: is it this server's "
            "CA?")


def _root_hint(error: TrustError, ref: ImageReference, trust_dir: str | None) -> str:
    cached = f"{trust_dir or '$DOCKER_CONFIG/trust'}/tuf/{ref.name}/metadata/root.json"
    if error.reason is Reason.PIN_MISMATCH:
        return ("the server's root is not the one your policy pins: if the publisher changed "
                "keys, confirm the new root key IDs with them out of band, then update "
                "root_keys in your policy")
    return ("the repository's root keys changed since this machine trusted them.  Confirm "
            f"with the publisher (`trustbuild inspect {ref.familiar_name}` shows the "
            "server's keys); if the re-initialisation is legitimate, accept it by removing "
            f"{cached} (or pinning the new root_keys in your policy), then run again")
