"""The `spool` command line. Imports nothing heavy at module level: `spool --help` stays fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

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
    ctx.obj["profile"] = profile
    ctx.obj["model"] = model
    if ctx.invoked_subcommand is not None:
        return
    _require_profile(None, profile)
    try:
        from spool.tui.app import run_tui
    except ImportError:  # pragma: no cover - the TUI is not built yet
        click.echo("spool: the TUI is not available in this build; try `spool serve`.", err=True)
        sys.exit(2)
    sys.exit(run_tui(data_dir=data_dir, profile=profile, model=model))


@main.group(invoke_without_command=True)
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
@click.option(
    "--idle-exit-s",
    default=None,
    type=click.FloatRange(min=1),
    help="Exit when no client used the server for this long and no run is executing "
    "(the embedded server; default: run until stopped).",
)
@click.option(
    "--database",
    "database_url",
    envvar="SPOOL_DATABASE_URL",
    default=None,
    help="sqlite:///PATH or postgresql://… (SPOOL_DATABASE_URL; default: spool.db in the data "
    "dir). Replicas on one PostgreSQL share it.",
)
@click.option(
    "--blobs",
    "blobs_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory of uploaded files' bytes (default: files/ in the data dir); replicas "
    "share one (a filesystem with atomic rename).",
)
@click.option(
    "--lease-renew-s",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Replicas (PostgreSQL): how often a replica renews its run leases and sweeps others'.",
)
@click.option(
    "--lease-expire-s",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Replicas: a run lease not renewed this long is taken over (its run fails).",
)
@click.option(
    "--event-retention-s",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Replicas: a run's stored stream events are deleted this long after its last one.",
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
    idle_exit_s: float | None,
    database_url: str | None,
    blobs_dir: str | None,
    lease_renew_s: float,
    lease_expire_s: float,
    event_retention_s: float,
) -> None:
    """Run the Assistants v2 compatible server (`spool serve migrate`: SQLite → PostgreSQL)."""
    if ctx.invoked_subcommand is not None:
        return
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
            idle_exit_s=idle_exit_s,
            database_url=database_url,
            blobs_dir=Path(blobs_dir) if blobs_dir else None,
            lease=(lease_renew_s, lease_expire_s, event_retention_s),
        )
    except ServeError as exc:
        click.echo(f"spool serve: {exc}", err=True)
        sys.exit(2)


@serve.command("migrate")
@click.option(
    "--from",
    "source_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The SQLite data dir to copy (its spool.db; stop the server using it first).",
)
@click.option("--to", "url", required=True, help="An empty PostgreSQL database: postgresql://…")
@click.option(
    "--blobs",
    "blobs_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Copy the files' bytes into this blobs dir (default: they stay in DIR/files; serve "
    "with --blobs DIR/files).",
)
def serve_migrate(source_dir: str, url: str, blobs_dir: str | None) -> None:
    """Copy a SQLite data dir into an empty PostgreSQL database, losing nothing."""
    import asyncio
    from pathlib import Path

    from spool.server.storage import check_url

    problem = check_url(url)
    if problem:
        click.echo(f"spool serve migrate: --to: {problem}", err=True)
        sys.exit(2)
    from spool.server.storage.copy import MigrateError, migrate

    source = Path(source_dir)
    blobs = Path(blobs_dir) if blobs_dir else None
    say = lambda line: click.echo(f"spool serve migrate: {line}")  # noqa: E731
    try:
        asyncio.run(migrate(source, url, blobs_to=blobs, say=say))
    except MigrateError as exc:
        click.echo(f"spool serve migrate: {exc}", err=True)
        sys.exit(2)
    where = blobs or source / "files"
    say(f"done; serve it with: spool serve --database URL --blobs {where}")


@main.command()
@click.argument("what", type=click.Choice(["config", "data", "themes"]), required=False)
@click.pass_context
def locate(ctx: click.Context, what: str | None) -> None:
    """Print where spool keeps its config file, data or user themes (all three: no argument)."""
    from spool import config

    paths = {
        "config": config.config_file(),
        "data": config.data_dir(ctx.obj.get("data_dir")),
        "themes": config.config_dir() / "themes",
    }
    if what is not None:
        click.echo(paths[what])
        return
    for name, path in paths.items():
        click.echo(f"{name:<7} {path}")


# --- one-shot client commands (`ask`, `export`, `threads`) -----------------------------------
def _require_profile(command: str | None, profile: str) -> None:
    """Exit 2 with the known profiles when the config file does not define `profile`."""
    from spool.config import UnknownProfile, load_config

    try:
        load_config().profile(profile)
    except UnknownProfile as exc:
        click.echo(f"spool{' ' + command if command else ''}: {exc}", err=True)
        sys.exit(2)


def _resolve(ctx: click.Context, data_dir: str | None, profile: str | None) -> tuple[Any, str]:
    """The data dir and profile of a client command (its own options, else the group's); an
    unknown profile ends the command (exit 2) before anything else happens."""
    from spool.config import data_dir as resolve_data_dir

    obj = ctx.obj or {}
    name = profile or obj.get("profile") or "local"
    names = []
    while ctx.parent is not None:  # "threads add", not "add"
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    _require_profile(" ".join(names), name)
    return resolve_data_dir(data_dir or obj.get("data_dir")), name


def _run_command(name: str, coro: Any) -> Any:
    """Run a client coroutine; CommandError and SDK errors become `spool NAME: ...` + exit."""
    import asyncio
    import contextlib

    from spool.client.commands import CommandError
    from spool.client.connection import describe_error

    try:
        return asyncio.run(coro)
    except CommandError as exc:
        click.echo(f"spool {name}: {exc}", err=True)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        click.echo(f"spool {name}: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `spool ask ... | head`: the reader left
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:
        import openai

        if isinstance(exc, openai.OpenAIError):
            click.echo(f"spool {name}: {describe_error(exc)}", err=True)
            sys.exit(1)
        raise


def _client_options(f: Any) -> Any:
    f = click.option("--profile", default=None, help="Connection profile (default: local).")(f)
    f = click.option(
        "--data-dir", type=click.Path(file_okay=False), default=None, help="Data directory."
    )(f)
    return f


@main.command()
@click.argument("question")
@click.option("--thread", "thread_id", default=None, help="Continue this thread.")
@click.option("--new", "new", is_flag=True, help="Start a new thread.")
@click.option("--assistant", default=None, help="Assistant name or id.")
@click.option("--model", default=None, help="Model for this run (and a new default assistant).")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, readable=True),
    help="Attach a file for file_search (repeatable); citations print as footnotes.",
)
@click.option(
    "--mcp",
    "mcp_servers",
    multiple=True,
    metavar="NAME",
    help="Offer the tools of the [mcp.NAME] server of the config file (repeatable).",
)
@click.option(
    "--yes",
    "approve_all",
    is_flag=True,
    help="Run tool calls that ask first without asking (needed without a terminal).",
)
@_client_options
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    thread_id: str | None,
    new: bool,
    assistant: str | None,
    model: str | None,
    files: tuple[str, ...],
    mcp_servers: tuple[str, ...],
    approve_all: bool,
    profile: str | None,
    data_dir: str | None,
) -> None:
    """Ask a question and stream the reply to stdout.

    QUESTION "-" reads the question from stdin. Continues the last thread of the index unless --thread or --new is given; the thread is
    saved in the index. Exits 1 when the run does not complete (the reason goes to stderr).
    Function calls are answered from the local tool registry (tools.py in the config dir,
    `spool.tools` entry points). --file uploads a file and attaches it for file_search (the
    run gets the file_search tool); the answer's citations print as [n] with footnotes.
    --mcp NAME offers the tools of an MCP server of the config file; a call of a server that
    asks first (the default) is approved on the terminal, or needs --yes without one.
    """
    if thread_id and new:
        raise click.UsageError("--thread and --new exclude each other")
    directory, profile_name = _resolve(ctx, data_dir, profile)
    if question == "-":
        question = sys.stdin.read()
    question = question.strip()
    if not question:
        raise click.UsageError("the question is empty")
    from spool.client.ask import AskRequest
    from spool.client.ask import ask as run_ask

    request = AskRequest(
        question=question,
        data_dir=directory,
        profile=profile_name,
        thread_id=thread_id,
        new=new,
        assistant=assistant,
        model=model or (ctx.obj or {}).get("model"),
        files=[Path(f) for f in files],
        mcp_servers=tuple(dict.fromkeys(mcp_servers)),
        approve_all=approve_all,
        ask_on_terminal=sys.stdin.isatty() and sys.stderr.isatty(),
    )
    sys.exit(_run_command("ask", run_ask(request, sys.stdout, sys.stderr)))


@main.command()
@click.argument("thread_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
    help="Output format.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here.")
@_client_options
@click.pass_context
def export(
    ctx: click.Context,
    thread_id: str,
    fmt: str,
    output: str | None,
    profile: str | None,
    data_dir: str | None,
) -> None:
    """Export a thread (messages, tool calls, runs) as Markdown or JSON."""
    directory, profile_name = _resolve(ctx, data_dir, profile)

    async def go() -> str:
        import contextlib

        import openai

        from spool.client.commands import CommandError, with_client
        from spool.client.export import export_thread
        from spool.store import Store

        title = None
        with contextlib.suppress(Exception):
            store = Store(directory, read_only=True)
            try:
                rec = store.get_thread(thread_id)
                title = rec.title if rec else None
            finally:
                store.close()

        async def work(client: Any) -> str:
            try:
                return await export_thread(client, thread_id, fmt, title=title)
            except openai.NotFoundError:
                raise CommandError(
                    f"no thread {thread_id} on the {profile_name!r} server"
                ) from None

        return await with_client(profile_name, directory, work)

    text = _run_command("export", go())
    if output and output != "-":
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.group()
def threads() -> None:
    """List the thread index, or add a thread from the server."""


@threads.command("list")
@click.option("--all", "show_all", is_flag=True, help="Threads of every profile.")
@_client_options
@click.pass_context
def threads_list(
    ctx: click.Context, show_all: bool, profile: str | None, data_dir: str | None
) -> None:
    """Print the saved threads (id, title, last update), newest first."""
    from spool.client.ask import format_record_time
    from spool.store import Store

    directory, profile_name = _resolve(ctx, data_dir, profile)
    store = Store(directory, read_only=True)
    try:
        for warning in store.warnings:
            click.echo(f"spool threads list: {warning}", err=True)
        records = store.threads(None if show_all else profile_name)
    finally:
        store.close()
    for rec in records:
        title = rec.title or "New thread"
        extra = f"\t[{rec.profile}]" if show_all else ""
        click.echo(f"{rec.id}\t{title}\t{format_record_time(rec.updated_at)}{extra}")


@threads.command("add")
@click.argument("thread_id")
@_client_options
@click.pass_context
def threads_add(
    ctx: click.Context, thread_id: str, profile: str | None, data_dir: str | None
) -> None:
    """Add a thread of the server to the index (fetches its title)."""
    from spool.client.ask import import_thread
    from spool.store import Store

    directory, profile_name = _resolve(ctx, data_dir, profile)
    index = Store(directory, read_only=True)
    try:
        known = index.get_thread(thread_id)
    finally:
        index.close()
    if known is not None and known.profile == profile_name:
        click.echo(f"already there: {known.id}: {known.title or 'New thread'}")
        return
    rec = _run_command("threads add", import_thread(profile_name, directory, thread_id, sys.stderr))
    click.echo(f"added {rec.id}: {rec.title or 'New thread'}")


def _on_server(ctx: click.Context, name: str, data_dir: str | None, profile: str | None, work):
    """Run `work(client)` against the profile's server as `spool NAME`."""
    from spool.client.commands import with_client

    directory, profile_name = _resolve(ctx, data_dir, profile)
    return _run_command(name, with_client(profile_name, directory, work))


@main.group()
def files() -> None:
    """Files on the server: list, upload, delete."""


@files.command("list")
@click.option("--purpose", default=None, help="Only files with this purpose.")
@_client_options
@click.pass_context
def files_list(
    ctx: click.Context, purpose: str | None, profile: str | None, data_dir: str | None
) -> None:
    """Print the server's files (id, bytes, purpose, name), newest first."""
    from spool.client.files import list_files

    found = _on_server(ctx, "files list", data_dir, profile, lambda c: list_files(c, purpose))
    for f in found:
        click.echo(f"{f.id}\t{f.bytes}\t{f.purpose}\t{f.filename}")


@files.command("upload")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--purpose", default="assistants", show_default=True, help="The files' purpose.")
@_client_options
@click.pass_context
def files_upload(
    ctx: click.Context,
    paths: tuple[str, ...],
    purpose: str,
    profile: str | None,
    data_dir: str | None,
) -> None:
    """Upload files; prints each new file id."""
    from spool.client.files import upload

    async def work(client: Any) -> list[Any]:
        return [await upload(client, Path(p), purpose=purpose) for p in paths]

    for f in _on_server(ctx, "files upload", data_dir, profile, work):
        click.echo(f"{f.id}\t{f.bytes}\t{f.filename}")


@files.command("delete")
@click.argument("file_ids", nargs=-1, required=True)
@_client_options
@click.pass_context
def files_delete(
    ctx: click.Context, file_ids: tuple[str, ...], profile: str | None, data_dir: str | None
) -> None:
    """Delete files (they also leave every vector store)."""
    from spool.client.files import delete_file

    async def work(client: Any) -> None:
        for file_id in file_ids:
            await delete_file(client, file_id)

    _on_server(ctx, "files delete", data_dir, profile, work)
    for file_id in file_ids:
        click.echo(f"deleted {file_id}")


@main.group()
def stores() -> None:
    """Vector stores on the server: list, create, add files, search."""


@stores.command("list")
@_client_options
@click.pass_context
def stores_list(ctx: click.Context, profile: str | None, data_dir: str | None) -> None:
    """Print the vector stores (id, status, files, bytes, name)."""
    from spool.client.files import list_stores

    for s in _on_server(ctx, "stores list", data_dir, profile, list_stores):
        click.echo(f"{s.id}\t{s.status}\t{s.file_counts.total}\t{s.usage_bytes}\t{s.name}")


@stores.command("create")
@click.argument("name")
@click.option("--file", "file_ids", multiple=True, help="A file id to add (repeatable).")
@_client_options
@click.pass_context
def stores_create(
    ctx: click.Context,
    name: str,
    file_ids: tuple[str, ...],
    profile: str | None,
    data_dir: str | None,
) -> None:
    """Create a vector store (waits for its files' indexing); prints its id."""
    from spool.client.files import create_store

    store = _on_server(
        ctx, "stores create", data_dir, profile, lambda c: create_store(c, name, list(file_ids))
    )
    click.echo(f"{store.id}\t{store.status}\t{store.file_counts.completed} indexed")


@stores.command("add")
@click.argument("store_id")
@click.argument("file_ids", nargs=-1, required=True)
@_client_options
@click.pass_context
def stores_add(
    ctx: click.Context,
    store_id: str,
    file_ids: tuple[str, ...],
    profile: str | None,
    data_dir: str | None,
) -> None:
    """Add files (ids) to a vector store and wait for their indexing."""
    from spool.client.files import add_to_store

    batch = _on_server(
        ctx, "stores add", data_dir, profile, lambda c: add_to_store(c, store_id, list(file_ids))
    )
    counts = batch.file_counts
    click.echo(f"{batch.status}: {counts.completed} indexed, {counts.failed} failed")
    if counts.failed:
        sys.exit(1)


@stores.command("search")
@click.argument("store_id")
@click.argument("query")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 50))
@_client_options
@click.pass_context
def stores_search(
    ctx: click.Context,
    store_id: str,
    query: str,
    limit: int,
    profile: str | None,
    data_dir: str | None,
) -> None:
    """Search a vector store; prints score, file name and the passage."""
    from spool.client.files import search_store

    results = _on_server(
        ctx, "stores search", data_dir, profile, lambda c: search_store(c, store_id, query, limit)
    )
    for r in results:
        passage = " ".join(r.content[0].text.split()) if r.content else ""
        click.echo(f"{r.score:.3f}\t{r.filename}\t{passage[:200]}")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
