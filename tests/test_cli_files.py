"""`spool ask --file` (a cited answer with numbered footnotes) and `spool files …` /
`spool stores …`, as subprocesses against the shared echo server (a remote profile)."""

from __future__ import annotations

from pathlib import Path

from test_cli_ask import Remote, remote, spool  # noqa: F401


def run(remote: Remote, *args: str):  # noqa: F811
    return spool(*args, "--profile", "test")


def test_ask_with_files_prints_a_cited_answer_with_footnotes(
    remote: Remote,  # noqa: F811
    tmp_path: Path,
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("The harbour master rings the bell twice at high tide.\n")
    other = tmp_path / "other.txt"
    other.write_text("Nothing about harbours here, only gardening and roses.\n")
    result = remote.ask(
        "--new", "--file", str(notes), "--file", str(other), "/search harbour bell high tide"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ('Top result: "The harbour master rings the bell twice at high tide." [1]')
    assert lines[-1] == "[1] notes.md"
    assert "【" not in result.stdout
    assert result.stderr.count("[file] ") == 2 and "notes.md" in result.stderr


def test_ask_file_must_exist(remote: Remote, tmp_path: Path) -> None:  # noqa: F811
    result = remote.ask("--file", str(tmp_path / "missing.txt"), "hi")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_files_and_stores_commands(remote: Remote, tmp_path: Path) -> None:  # noqa: F811
    doc = tmp_path / "comets.txt"
    doc.write_text("Comets grow tails of dust and gas when they approach the Sun.\n")
    uploaded = run(remote, "files", "upload", str(doc))
    assert uploaded.returncode == 0, uploaded.stderr
    file_id, size, name = uploaded.stdout.strip().split("\t")
    assert file_id.startswith("file-") and name == "comets.txt" and int(size) == doc.stat().st_size
    listed = run(remote, "files", "list", "--purpose", "assistants")
    assert file_id in listed.stdout

    created = run(remote, "stores", "create", "space", "--file", file_id)
    assert created.returncode == 0, created.stderr
    store_id, status, indexed = created.stdout.strip().split("\t")
    assert store_id.startswith("vs_") and status == "completed" and indexed == "1 indexed"
    assert store_id in run(remote, "stores", "list").stdout

    found = run(remote, "stores", "search", store_id, "comet tails dust")
    assert found.returncode == 0, found.stderr
    score, filename, passage = found.stdout.splitlines()[0].split("\t")
    assert filename == "comets.txt" and 0 < float(score) <= 1 and "tails of dust" in passage

    second = tmp_path / "moons.md"
    second.write_text("Jupiter has dozens of moons.\n")
    second_id = run(remote, "files", "upload", str(second)).stdout.split("\t")[0]
    added = run(remote, "stores", "add", store_id, second_id)
    assert added.returncode == 0 and "1 indexed" in added.stdout, added.stdout + added.stderr
    assert "moons.md" in run(remote, "stores", "search", store_id, "jupiter moons").stdout

    deleted = run(remote, "files", "delete", file_id)
    assert deleted.returncode == 0 and f"deleted {file_id}" in deleted.stdout
    assert file_id not in run(remote, "files", "list").stdout
    missing = run(remote, "files", "delete", file_id)
    assert missing.returncode == 1 and "spool files delete:" in missing.stderr
