"""Helpers for the files / vector stores / file_search tests: the files spec subset's validator,
small documents, and polling a vector store's indexing to its end."""

from __future__ import annotations

import io
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


def make_pdf(pages: list[str]) -> bytes:
    """A small valid PDF with one line of Helvetica text per page."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    font_id = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        content_id = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_docx(paragraphs: list[str]) -> bytes:
    """A minimal .docx (word/document.xml only) with these paragraphs."""
    import zipfile
    from xml.sax.saxutils import escape

    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    xml = f'<?xml version="1.0"?><w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", xml)
    return buffer.getvalue()


def make_pptx(slides: list[list[str]]) -> bytes:
    """A minimal .pptx (slide XML only) with these paragraphs per slide."""
    import zipfile
    from xml.sax.saxutils import escape

    ns = "http://schemas.openxmlformats.org/drawingml/2006/main"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number, paragraphs in enumerate(slides, start=1):
            body = "".join(f"<a:p><a:r><a:t>{escape(p)}</a:t></a:r></a:p>" for p in paragraphs)
            archive.writestr(
                f"ppt/slides/slide{number}.xml",
                f'<?xml version="1.0"?><p:sld xmlns:a="{ns}" xmlns:p="urn:p"><p:cSld>'
                f"<p:spTree><p:sp><p:txBody>{body}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>",
            )
    return buffer.getvalue()
