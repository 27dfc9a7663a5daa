"""The vector store screen: the server's stores (name, status, file counts, size, expiry), the
files of the highlighted one, and a test search with its ranked chunks (file, score, text).

Keys: n creates a store, a adds files (paths, uploaded with a progress bar, or the ids of
uploaded files; then indexed), x
removes the highlighted file from the store, d deletes the store (after asking), / searches it,
r reloads, escape closes. All calls go through `spool.client.vector_stores.VectorStores`, in
workers; a failure is said in the screen's status line and nothing is lost.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, ProgressBar, Static

from spool.client.sizes import human_size
from spool.client.vector_stores import Hit, StoreError, StoreFileRow, StoreRow, VectorStores
from spool.tui.screens.attach import PathSuggester
from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.help import KeyHelp
from spool.tui.screens.prompt import PromptScreen

KEYS = [
    KeyHelp("n (vector stores)", "Create a vector store", "vector_stores.new"),
    KeyHelp("a (vector stores)", "Add files to the store (upload, index)", "vector_stores.add"),
    KeyHelp(
        "x (vector stores)", "Remove the highlighted file from the store", "vector_stores.remove"
    ),
    KeyHelp("d (vector stores)", "Delete the store (asks first)", "vector_stores.delete"),
    KeyHelp("/ (vector stores)", "Test search in the store", "vector_stores.search"),
    KeyHelp("r (vector stores)", "Reload the stores", "vector_stores.reload"),
    KeyHelp("escape (vector stores)", "Close the vector stores", "vector_stores.close"),
]
HIT_CHARS = 300
MAX_DAYS = 365  # expires_after.days
FILE_ID = re.compile(r"^file-[A-Za-z0-9_-]+$")  # an uploaded file, added by its id


class VectorStoresScreen(ModalScreen[None]):
    """Stores, their files and a test search (see the module docstring)."""

    DEFAULT_CSS = """
    VectorStoresScreen { align: center middle; }
    VectorStoresScreen > Vertical {
        width: 96%; height: 92%; padding: 0 1;
        border: thick $primary; background: $surface;
        border-title-align: left; border-subtitle-align: right;
    }
    VectorStoresScreen .heading { height: 1; text-style: bold; color: $text-muted; }
    VectorStoresScreen #stores { height: auto; max-height: 12; min-height: 3; }
    VectorStoresScreen #files { height: auto; max-height: 12; min-height: 3; }
    VectorStoresScreen #files-heading { margin: 1 0 0 0; }
    VectorStoresScreen #search-row { height: 1; margin: 1 0 0 0; }
    VectorStoresScreen #search-row .heading { width: 8; }
    VectorStoresScreen #query { width: 1fr; background: $boost; }
    VectorStoresScreen #hits { height: 1fr; min-height: 3; }
    VectorStoresScreen .hit { height: auto; margin: 0 0 1 0; }
    VectorStoresScreen #progress-row { height: 1; }
    VectorStoresScreen #progress-row.-idle { display: none; }
    VectorStoresScreen #progress-label { width: auto; padding: 0 1 0 0; }
    VectorStoresScreen #status { height: auto; color: $text-muted; }
    VectorStoresScreen #status.-error { color: $error; text-style: bold; }
    VectorStoresScreen #keys { height: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="vector_stores.close"),
        Binding("n", "new", "New store", id="vector_stores.new"),
        Binding("a", "add", "Add files", id="vector_stores.add"),
        Binding("x,delete", "remove", "Remove file", id="vector_stores.remove"),
        Binding("d", "delete", "Delete store", id="vector_stores.delete"),
        Binding("slash", "search", "Search", id="vector_stores.search"),
        Binding("r", "reload", "Reload", id="vector_stores.reload"),
    ]

    def __init__(self, stores: VectorStores, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.stores = stores
        self.cursor_blink = cursor_blink
        self.rows: list[StoreRow] = []
        self.files: list[StoreFileRow] = []
        self.hits: list[Hit] = []
        self.selected: str | None = None  # id of the highlighted store
        self.busy = False

    def compose(self) -> ComposeResult:
        frame = Vertical()
        frame.border_title = "Vector stores"
        frame.border_subtitle = "escape closes"
        with frame:
            yield Static("Stores", classes="heading")
            stores = DataTable(id="stores", cursor_type="row", zebra_stripes=False)
            stores.add_columns("Name", "Status", "Files", "Size", "Expires")
            yield stores
            yield Static("Files", id="files-heading", classes="heading")
            files = DataTable(id="files", cursor_type="row")
            files.add_columns("File", "Status", "Size")
            yield files
            with Horizontal(id="search-row"):
                yield Static("Search", classes="heading")
                query = Input(placeholder="a test query, Enter searches", id="query", compact=True)
                query.cursor_blink = self.cursor_blink
                yield query
            yield VerticalScroll(id="hits")
            with Horizontal(id="progress-row", classes="-idle"):
                yield Static("", id="progress-label", markup=False)
                yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="status", markup=False)
            yield Static(
                "n new · a add files · x remove file · d delete store · / search · r reload",
                id="keys",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one("#stores", DataTable).focus()
        self.action_reload()

    # --- status -------------------------------------------------------------------------------
    def say(self, text: str, *, error: bool = False) -> None:
        """A line under the tables (red for an error)."""
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    @property
    def status_text(self) -> str:
        return str(self.query_one("#status", Static).render())

    def _progress(self, name: str, sent: int, total: int) -> None:
        row = self.query_one("#progress-row")
        row.set_class(False, "-idle")
        self.query_one("#progress-label", Static).update(f"Uploading {name}")
        self.query_one("#progress", ProgressBar).update(total=max(total, 1), progress=sent)

    def _progress_done(self) -> None:
        self.query_one("#progress-row").set_class(True, "-idle")

    # --- tables -------------------------------------------------------------------------------
    def _store(self) -> StoreRow | None:
        return next((r for r in self.rows if r.id == self.selected), None)

    def _fill_stores(self) -> None:
        table = self.query_one("#stores", DataTable)
        table.clear()
        now = self.stores.clock()
        for row in self.rows:
            table.add_row(
                row.name or row.id,
                row.status,
                row.counts_text,
                human_size(row.usage_bytes),
                row.expiry_text(now),
                key=row.id,
            )
        if self.rows:
            ids = [r.id for r in self.rows]
            index = ids.index(self.selected) if self.selected in ids else 0
            self.selected = ids[index]
            table.move_cursor(row=index)
        else:
            self.selected = None

    def _fill_files(self) -> None:
        table = self.query_one("#files", DataTable)
        table.clear()
        for f in self.files:
            status = f.status + (f": {f.error}" if f.error else "")
            table.add_row(f.name, status, human_size(f.usage_bytes), key=f.id)
        store = self._store()
        heading = self.query_one("#files-heading", Static)
        heading.update(f"Files of {store.name or store.id}" if store else "Files")

    def _fill_hits(self) -> None:
        box = self.query_one("#hits", VerticalScroll)
        box.remove_children()
        widgets = []
        for rank, hit in enumerate(self.hits, 1):
            text = " ".join(hit.text.split())
            if len(text) > HIT_CHARS:
                text = text[:HIT_CHARS].rsplit(" ", 1)[0] + " …"
            line = Text.assemble(
                (f"{rank}. {hit.file_name}", "bold"),
                (f" · score {hit.score:.3f}", "dim"),
                "\n",
                text,
            )
            widgets.append(Static(line, classes="hit"))
        if widgets:
            box.mount_all(widgets)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "stores" or event.row_key is None:
            return
        key = event.row_key.value
        if key != self.selected:
            self.selected = key
            self.hits = []
            self._fill_hits()
            self._load_files()

    # --- workers ------------------------------------------------------------------------------
    @work(exclusive=True, group="vector-stores", exit_on_error=False)
    async def _reload(self, say: str | None = None) -> None:
        try:
            self.rows = await self.stores.list()
        except StoreError as exc:
            self.say(str(exc), error=True)
            return
        self._fill_stores()
        await self._files_now()
        if say is not None:
            self.say(say)
        elif not self.rows:
            self.say("No vector stores yet: n creates one.")

    async def _files_now(self) -> None:
        if self.selected is None:
            self.files = []
        else:
            try:
                self.files = await self.stores.files(self.selected)
            except StoreError as exc:
                self.say(str(exc), error=True)
                self.files = []
        self._fill_files()

    @work(exclusive=True, group="vector-store-files", exit_on_error=False)
    async def _load_files(self) -> None:
        await self._files_now()

    def action_reload(self) -> None:
        """Load the stores again."""
        self._reload()

    # --- actions ------------------------------------------------------------------------------
    def action_new(self) -> None:
        """Create a vector store (asks its name, then after how many idle days it expires)."""

        def named(name: str | None) -> None:
            if not name:
                return

            def timed(days: str | None) -> None:
                if days is None or not days.strip():
                    self._create(name, None)
                    return
                if not days.strip().isdigit() or not 1 <= int(days) <= MAX_DAYS:
                    self.say(
                        f"Expiry: a number of days from 1 to {MAX_DAYS} ({days!r}; nothing created)",
                        error=True,
                    )
                    return
                self._create(name, int(days))

            self.app.push_screen(
                PromptScreen(
                    f"Expire “{name}” after how many days without use? (Enter: never)",
                    placeholder=f"1–{MAX_DAYS}, blank: never",
                    cursor_blink=self.cursor_blink,
                ),
                timed,
            )

        self.app.push_screen(
            PromptScreen(
                "Name of the new vector store",
                placeholder="e.g. Manuals",
                cursor_blink=self.cursor_blink,
            ),
            named,
        )

    @work(exclusive=True, group="vector-stores", exit_on_error=False)
    async def _create(self, name: str, days: int | None) -> None:
        try:
            row = await self.stores.create(name, expires_days=days)
        except StoreError as exc:
            self.say(str(exc), error=True)
            return
        self.selected = row.id
        self._reload(say=f"Created {name}: a adds files to it.")

    def action_add(self) -> None:
        """Add files to the highlighted store (asks their paths)."""
        store = self._store()
        if store is None:
            self.say("Create a store first (n).", error=True)
            return

        def answered(text: str | None) -> None:
            if not text:
                return
            try:
                tokens = shlex.split(text)
            except ValueError as exc:
                self.say(f"Cannot read those paths: {exc}", error=True)
                return
            paths = [Path(t).expanduser() for t in tokens]
            ids = [
                t for t, p in zip(tokens, paths, strict=True) if FILE_ID.match(t) and not p.exists()
            ]
            paths = [p for t, p in zip(tokens, paths, strict=True) if t not in ids]
            missing = [str(p) for p in paths if not p.is_file()]
            if missing:
                self.say(f"No such file: {', '.join(missing)} (nothing was added)", error=True)
                return
            self._add(store.id, paths, ids)

        self.app.push_screen(
            PromptScreen(
                f"Files to add to {store.name or store.id} (paths or uploaded file ids)",
                placeholder="~/notes/guide.md ./report.pdf",
                cursor_blink=self.cursor_blink,
                suggester=PathSuggester(),  # → takes the completion
            ),
            answered,
        )

    @work(exclusive=True, group="vector-store-add", exit_on_error=False)
    async def _add(self, store_id: str, paths: list[Path], ids: list[str]) -> None:
        self.say(f"Adding {len(paths) + len(ids)} file(s)…")
        try:
            await self.stores.add_paths(store_id, paths, self._progress, file_ids=ids)
        except StoreError as exc:
            self.say(str(exc), error=True)
            return
        finally:
            self._progress_done()
        names = ", ".join([p.name for p in paths] + [await self.stores.file_name(i) for i in ids])
        self._reload(say=f"Added {names}.")

    def action_remove(self) -> None:
        """Remove the highlighted file from the store."""
        table = self.query_one("#files", DataTable)
        if self.selected is None or not self.files:
            self.say("No file to remove.", error=True)
            return
        row = min(max(table.cursor_row, 0), len(self.files) - 1)
        self._remove(self.selected, self.files[row])

    @work(exclusive=True, group="vector-stores", exit_on_error=False)
    async def _remove(self, store_id: str, f: StoreFileRow) -> None:
        try:
            await self.stores.remove_file(store_id, f.id)
        except StoreError as exc:
            self.say(str(exc), error=True)
            return
        self._reload(say=f"Removed {f.name} from the store (the upload stays).")

    def action_delete(self) -> None:
        """Delete the highlighted store (after asking)."""
        store = self._store()
        if store is None:
            self.say("No store to delete.", error=True)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(store)

        self.app.push_screen(
            ConfirmScreen(
                f"Delete the vector store “{store.name or store.id}”?\n\n"
                "Its files stay uploaded; assistants and threads that search it lose it."
            ),
            answered,
        )

    @work(exclusive=True, group="vector-stores", exit_on_error=False)
    async def _delete(self, store: StoreRow) -> None:
        try:
            await self.stores.delete(store.id)
        except StoreError as exc:
            self.say(str(exc), error=True)
            return
        self.selected = None
        self.hits = []
        self._fill_hits()
        self._reload(say=f"Deleted {store.name or store.id}.")

    def action_search(self) -> None:
        """Focus the search box."""
        self.query_one("#query", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "query":
            self._search(event.value)

    @work(exclusive=True, group="vector-store-search", exit_on_error=False)
    async def _search(self, query: str) -> None:
        store = self._store()
        if store is None:
            self.say("No store to search.", error=True)
            return
        try:
            self.hits = await self.stores.search(store.id, query)
        except StoreError as exc:
            self.say(str(exc), error=True)
            return
        self._fill_hits()
        n = len(self.hits)
        self.say(f"{n} chunk{'' if n == 1 else 's'} for “{query.strip()}”.")

    def action_close(self) -> None:
        """Close the screen."""
        self.dismiss(None)
