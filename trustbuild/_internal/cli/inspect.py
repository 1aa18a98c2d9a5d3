"""``trustbuild inspect IMAGE[:TAG]…``: signed tags, digests and signing roles."""

from __future__ import annotations

import click

from trustbuild import api
from trustbuild._internal import output
from trustbuild._internal.cli.base import (
    CONFIG,
    FORMAT,
    OFFLINE,
    VERBOSE,
    Streams,
    click_option,
    configure_logging,
    failing_closed,
    finish,
    json_errors,
)


@click.command("inspect", cls=json_errors("inspect"),
               context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("images", nargs=-1, required=True, metavar="IMAGE[:TAG]...")
@click_option(FORMAT)
@click_option(OFFLINE)
@click_option(CONFIG)
@click_option(VERBOSE)
def command(images: tuple[str, ...], format: str | None, offline: bool, config: str | None,
            verbose: int) -> None:
    """Show the signed tags of each repository, with digests and signing roles.

    Like `docker trust inspect`: the trust server is DOCKER_CONTENT_TRUST_SERVER, or the
    registry's own host, and metadata is cached under $DOCKER_CONFIG/trust.
    """
    fmt = format or "text"
    configure_logging(verbose)
    with failing_closed("inspect", fmt, verbose):
        results = api.inspect(images, config=config, offline=offline)
        streams = Streams()
        if offline:
            streams.err("trustbuild: offline: answered from the local trust cache only; no "
                        "trust server was asked, so revocations since it was filled are not "
                        "seen")
        for result in results:
            if result.error is not None:
                streams.err(f"trustbuild: {result.image}: {result.error}")
        if fmt == "json":
            streams.out(output.to_json(output.inspect_json(results, offline=offline)))
        elif any(r.report for r in results):
            streams.out(output.inspect_text(results))
    finish(max((r.exit_code for r in results), default=0))
