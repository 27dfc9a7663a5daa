"""Helpers for the files / vector stores / file_search tests: the files spec subset's validator,
small documents, and polling a vector store's indexing to its end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from conftest import REFERENCE_DIR, SpecValidator

FILES_SPEC = REFERENCE_DIR / "openapi" / "files-vector-stores.normalized.yaml"
if not FILES_SPEC.is_file():  # a fresh clone: the verbatim copy in tests/walkthroughs/
    FILES_SPEC = Path(__file__).parent / "walkthroughs" / "openapi" / FILES_SPEC.name


@pytest.fixture(scope="session")
def files_spec() -> SpecValidator:
    """Validates bodies against the files / vector stores spec subset."""
    return SpecValidator(FILES_SPEC)


def wait_store(client: Any, store_id: str, timeout: float = 30.0) -> Any:
    """Poll a vector store until no file is in progress; returns the store."""
    deadline = time.monotonic() + timeout
    while True:
        store = client.vector_stores.retrieve(store_id)
        if store.file_counts.in_progress == 0:
            return store
        if time.monotonic() > deadline:
            raise AssertionError(f"store {store_id} still indexing: {store.file_counts}")
        time.sleep(0.05)


def dump(obj: Any) -> dict[str, Any]:
    """An SDK model as the JSON the server sent (unset optional fields left out)."""
    return obj.model_dump(mode="json", exclude_unset=True)
