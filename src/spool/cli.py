"""The `spool` command line. Imports nothing heavy at module level: `spool --help` stays fast."""

from __future__ import annotations

import os
import sys

import click


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Data directory (SPOOL_DATA_DIR)."
)
@click.option("--profile", default="local", show_default=True, help="Connection profile.")
@click.option("--model", default=None, help="Model for a newly created default assistant.")
@click.version_option(package_name="spool")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, profile: str, model: str | None) -> None:
    """spool: chat with OpenAI-style assistants and threads in your terminal.

    Without a command, opens the TUI on the embedded local server.
    """
    ctx.ensure_object(dict)
    ctx.obj["data_dir"] = data_dir
    if ctx.invoked_subcommand is not None:
        return
    try:
        from spool.tui.app import run_tui
    except ImportError:  # pragma: no cover - the TUI is not built yet
        click.echo("spool: the TUI is not available in this build; try `spool serve`.", err=True)
        sys.exit(2)
    sys.exit(run_tui(data_dir=data_dir, profile=profile, model=model))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0: any free port).")
@click.option("--api-key", envvar="SPOOL_API_KEY", default=None, help="Bearer key (SPOOL_API_KEY).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: `spool locate config`).",
)
@click.option(
    "--echo-delay-ms",
    default=0,
    show_default=True,
    type=int,
    help="Delay between the echo engine's deltas.",
)
@click.option(
    "--run-expiry-s",
    default=600,
    show_default=True,
    type=int,
    help="Seconds before an active run expires.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    api_key: str | None,
    data_dir: str | None,
    config_path: str | None,
    echo_delay_ms: int,
    run_expiry_s: int,
) -> None:
    """Run the Assistants v2 compatible server."""
    from pathlib import Path

    from spool.config import data_dir as resolve_data_dir
    from spool.server.serve import ServeError, serve_forever

    directory = resolve_data_dir(data_dir or ctx.obj.get("data_dir"))
    try:
        serve_forever(
            host=host,
            port=port,
            api_key=api_key,
            data_dir=directory,
            config_path=Path(config_path) if config_path else None,
            echo_delay_ms=echo_delay_ms,
            run_expiry_s=run_expiry_s,
        )
    except ServeError as exc:
        click.echo(f"spool serve: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.argument("what", type=click.Choice(["config", "data", "themes"]))
@click.pass_context
def locate(ctx: click.Context, what: str) -> None:
    """Print where spool keeps its config file, data or user themes."""
    from spool import config

    if what == "config":
        click.echo(config.config_file())
    elif what == "data":
        click.echo(config.data_dir(ctx.obj.get("data_dir")))
    else:
        click.echo(config.config_dir() / "themes")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
