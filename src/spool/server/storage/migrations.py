"""The schema, version by version, in both dialects: one version counter for both backends.

SQLite keeps its version in `PRAGMA user_version`, PostgreSQL in the one-row table
`schema_version`. Each version's DDL differs per dialect only where the engines do: FTS5 virtual
tables and triggers on SQLite; `tsvector` columns (generated, or kept by a trigger) with GIN
indexes on PostgreSQL; `seq` is an INTEGER PRIMARY KEY (rowid) on SQLite and a `bigint` identity
on PostgreSQL (BY DEFAULT, so `spool serve migrate` can copy positions as they are).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

SCHEMA_VERSION = 8

# A message's text parts joined by newlines (SQL over a row's JSON `data`; migration 6).
_MESSAGE_TEXT = (
    "(SELECT group_concat(json_extract(p.value, '$.text.value'), char(10)) "
    "FROM json_each({row}.data, '$.content') AS p WHERE json_extract(p.value, '$.type') = 'text')"
)

SQLITE_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE assistants (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, data TEXT NOT NULL);
    CREATE TABLE threads (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, data TEXT NOT NULL);
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, thread_id TEXT NOT NULL,
        run_id TEXT, data TEXT NOT NULL);
    CREATE INDEX messages_thread ON messages (thread_id, seq);
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, thread_id TEXT NOT NULL,
        status TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX runs_thread ON runs (thread_id, seq);
    CREATE INDEX runs_status ON runs (status);
    CREATE TABLE steps (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, run_id TEXT NOT NULL,
        thread_id TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX steps_run ON steps (run_id, seq);
    """,
    # Deleted objects keep their position, so a list cursor naming one still resolves.
    2: """
    CREATE TABLE tombstones (
        id TEXT PRIMARY KEY, tbl TEXT NOT NULL, seq INTEGER NOT NULL,
        thread_id TEXT, run_id TEXT);
    """,
    # Files: metadata here, bytes in <data dir>/files/blobs/ named by their sha256 (files.py).
    3: """
    CREATE TABLE files (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, purpose TEXT NOT NULL,
        sha256 TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX files_purpose ON files (purpose, seq);
    CREATE INDEX files_sha256 ON files (sha256);
    """,
    # Vector stores (vector_stores.py) and their search index (retrieval/index.py): a store's
    # file is keyed by (vector_store_id, file id); `chunks` holds positions, `chunks_fts` the
    # text (FTS5, BM25), `parsed` each file's parsed text (the file content endpoint).
    4: """
    CREATE TABLE vector_stores (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, data TEXT NOT NULL);
    CREATE TABLE vector_store_files (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, vector_store_id TEXT NOT NULL,
        status TEXT NOT NULL, batch_id TEXT, data TEXT NOT NULL,
        UNIQUE (vector_store_id, id));
    CREATE INDEX vector_store_files_file ON vector_store_files (id);
    CREATE INDEX vector_store_files_status ON vector_store_files (status);
    CREATE TABLE file_batches (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, vector_store_id TEXT NOT NULL,
        data TEXT NOT NULL);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY, vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL,
        position INTEGER NOT NULL, tokens INTEGER NOT NULL);
    CREATE INDEX chunks_file ON chunks (vector_store_id, file_id, position);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, tokenize = 'porter unicode61 remove_diacritics 2');
    CREATE TABLE parsed (
        vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (vector_store_id, file_id));
    """,
    # What server-side tool calls (file_search, code_interpreter) answered the model, and the
    # citation markers they offered (runs.py; the steps show only the public part).
    5: """
    CREATE TABLE tool_outputs (
        call_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, type TEXT NOT NULL,
        arguments TEXT NOT NULL, output TEXT NOT NULL, citations TEXT NOT NULL);
    CREATE INDEX tool_outputs_run ON tool_outputs (run_id);
    """,
    # spool's message search (routes/spool_search.py): the text parts of every message in FTS5,
    # rowid = messages.seq, kept in step by triggers (every write path, runs included); a reply
    # is indexed once it is no longer in_progress.
    6: f"""
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, tokenize = 'porter unicode61 remove_diacritics 2');
    INSERT INTO messages_fts (rowid, text) SELECT seq, {_MESSAGE_TEXT.format(row="messages")}
        FROM messages;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.seq, {_MESSAGE_TEXT.format(row="new")});
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF data ON messages
        WHEN json_extract(new.data, '$.status') IS NOT 'in_progress' BEGIN
        DELETE FROM messages_fts WHERE rowid = old.seq;
        INSERT INTO messages_fts (rowid, text) VALUES (new.seq, {_MESSAGE_TEXT.format(row="new")});
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        DELETE FROM messages_fts WHERE rowid = old.seq;
    END;
    """,
    # file_search indexing jobs (vector_stores.py): one row per file to index, claimed by a
    # worker (`replica`, until `claimed_until`, epoch seconds) and deleted once done.
    7: """
    CREATE TABLE IF NOT EXISTS index_jobs (
        vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL, queued_at REAL NOT NULL,
        replica TEXT, claimed_until REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (vector_store_id, file_id));
    INSERT INTO index_jobs (vector_store_id, file_id, queued_at)
        SELECT vector_store_id, id, seq FROM vector_store_files WHERE status = 'in_progress'
        ON CONFLICT DO NOTHING;
    """,
    # file_search's dense half (retrieval/dense.py): a chunk's unit float32 vector (BLOB,
    # little-endian) and the name of the embedding model that made it (NULL: keyword-only).
    8: """
    ALTER TABLE chunks ADD COLUMN embedding_model TEXT;
    ALTER TABLE chunks ADD COLUMN embedding BLOB;
    """,
}


def sqlite_statements(script: str) -> Iterator[str]:
    """The statements of a migration script (a trigger keeps the `;` inside its BEGIN … END)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


# --- PostgreSQL ---------------------------------------------------------------------------

_DOC = "seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, id text UNIQUE NOT NULL"

POSTGRES_MIGRATIONS: dict[int, list[str]] = {
    1: [
        f"CREATE TABLE assistants ({_DOC}, data text NOT NULL)",
        f"CREATE TABLE threads ({_DOC}, data text NOT NULL)",
        f"CREATE TABLE messages ({_DOC}, thread_id text NOT NULL, run_id text, data text NOT NULL)",
        "CREATE INDEX messages_thread ON messages (thread_id, seq)",
        f"CREATE TABLE runs ({_DOC}, thread_id text NOT NULL, status text NOT NULL, "
        "data text NOT NULL)",
        "CREATE INDEX runs_thread ON runs (thread_id, seq)",
        "CREATE INDEX runs_status ON runs (status)",
        f"CREATE TABLE steps ({_DOC}, run_id text NOT NULL, thread_id text NOT NULL, "
        "data text NOT NULL)",
        "CREATE INDEX steps_run ON steps (run_id, seq)",
    ],
    2: [
        "CREATE TABLE tombstones (id text PRIMARY KEY, tbl text NOT NULL, seq bigint NOT NULL, "
        "thread_id text, run_id text)",
    ],
    3: [
        f"CREATE TABLE files ({_DOC}, purpose text NOT NULL, sha256 text NOT NULL, "
        "data text NOT NULL)",
        "CREATE INDEX files_purpose ON files (purpose, seq)",
        "CREATE INDEX files_sha256 ON files (sha256)",
    ],
    # chunks carry their text and its tsvector (english: stemmed like FTS5's porter tokenizer)
    4: [
        f"CREATE TABLE vector_stores ({_DOC}, data text NOT NULL)",
        "CREATE TABLE vector_store_files (seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "id text NOT NULL, vector_store_id text NOT NULL, status text NOT NULL, batch_id text, "
        "data text NOT NULL, UNIQUE (vector_store_id, id))",
        "CREATE INDEX vector_store_files_file ON vector_store_files (id)",
        "CREATE INDEX vector_store_files_status ON vector_store_files (status)",
        f"CREATE TABLE file_batches ({_DOC}, vector_store_id text NOT NULL, data text NOT NULL)",
        "CREATE TABLE chunks (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "vector_store_id text NOT NULL, file_id text NOT NULL, position integer NOT NULL, "
        "tokens integer NOT NULL, text text NOT NULL, "
        "tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED)",
        "CREATE INDEX chunks_file ON chunks (vector_store_id, file_id, position)",
        "CREATE INDEX chunks_tsv ON chunks USING gin (tsv)",
        "CREATE TABLE parsed (vector_store_id text NOT NULL, file_id text NOT NULL, "
        "text text NOT NULL, PRIMARY KEY (vector_store_id, file_id))",
    ],
    5: [
        "CREATE TABLE tool_outputs (call_id text PRIMARY KEY, run_id text NOT NULL, "
        "type text NOT NULL, arguments text NOT NULL, output text NOT NULL, "
        "citations text NOT NULL)",
        "CREATE INDEX tool_outputs_run ON tool_outputs (run_id)",
    ],
    # message search: a message's text parts as a tsvector, set by a trigger once the message
    # is no longer in_progress (as the FTS5 triggers do on SQLite)
    6: [
        "ALTER TABLE messages ADD COLUMN search tsvector",
        """CREATE FUNCTION spool_message_text(doc text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
            SELECT string_agg(p->'text'->>'value', E'\\n')
            FROM jsonb_array_elements(COALESCE(doc::jsonb->'content', '[]'::jsonb)) AS p
            WHERE p->>'type' = 'text' $$""",
        """CREATE FUNCTION spool_message_search() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' OR (NEW.data::jsonb->>'status') IS DISTINCT FROM 'in_progress' THEN
                NEW.search := to_tsvector('english', COALESCE(spool_message_text(NEW.data), ''));
            END IF;
            RETURN NEW;
        END $$""",
        "CREATE TRIGGER messages_search BEFORE INSERT OR UPDATE OF data ON messages "
        "FOR EACH ROW EXECUTE FUNCTION spool_message_search()",
        "UPDATE messages SET search = to_tsvector('english', "
        "COALESCE(spool_message_text(data), ''))",
        "CREATE INDEX messages_search ON messages USING gin (search)",
    ],
    7: [
        "CREATE TABLE index_jobs (vector_store_id text NOT NULL, file_id text NOT NULL, "
        "queued_at double precision NOT NULL, replica text, "
        "claimed_until double precision NOT NULL DEFAULT 0, "
        "PRIMARY KEY (vector_store_id, file_id))",
        "CREATE INDEX index_jobs_claimable ON index_jobs (claimed_until, queued_at)",
        "INSERT INTO index_jobs (vector_store_id, file_id, queued_at) "
        "SELECT vector_store_id, id, seq FROM vector_store_files WHERE status = 'in_progress'",
    ],
    # the dense half: pgvector's `vector` without a fixed dimension (the model decides it;
    # searched exactly, see retrieval/dense.py). A server without pgvector (or without the
    # right to create it) still migrates: the column is left out and file_search stays
    # keyword-only (the server says so when an embedding model is configured).
    8: [
        "ALTER TABLE chunks ADD COLUMN embedding_model text",
        """DO $$ BEGIN
            BEGIN
                CREATE EXTENSION IF NOT EXISTS vector;
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'pgvector is not available: %', SQLERRM;
            END;
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
                EXECUTE 'ALTER TABLE chunks ADD COLUMN embedding vector';
            END IF;
        END $$""",
    ],
}
