"""SVG snapshots of code_interpreter steps (streaming; finished with logs and an image drawn in
half blocks) and of the run inspector with a code step and a file_search step. Fixed size, fixed
clock, no server: the thread, its steps and the image's bytes are put in the view model and the
file cache directly (a small PNG drawn with Pillow here).

Update with `.venv/bin/pytest tests/tui/test_snapshots_code.py --snapshot-update` and look at
the SVGs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from spool.client.images import FetchedFile, FileCache
from spool.client.run_details import RunDetails, SearchResult, StepDetail, ToolCallDetail, Usage
from spool.client.view_model import CodeStepItem, FileSearchItem, MessageItem, RunState
from spool.tui.screens.run_inspector import RunInspectorScreen
from spool.tui.widgets.image_view import InlineImage

from .helpers import FIXED_NOW, wait_until
from .test_snapshots_workflows import seed_thread, snapshot_app

SIZE = (110, 46)
CODE = (
    "import matplotlib.pyplot as plt\n"
    "xs = list(range(10))\n"
    "plt.plot(xs, [x * x for x in xs])\n"
    "plt.title('squares')\n"
    "plt.show()\n"
    "print(sum(xs))\n"
    "print(xs[20])\n"
)
LOGS = (
    "45\n"
    "Traceback (most recent call last):\n"
    '  File "<cell>", line 7, in <module>\n'
    "IndexError: list index out of range\n"
)


def small_png() -> bytes:
    """A 160x100 chart-like picture: white, a blue rising curve, a red bar, a black frame."""
    picture = Image.new("RGB", (160, 100), "white")
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 159, 99), outline="black", width=2)
    points = [(10 + x * 14, 90 - (x * x * 80) // 100) for x in range(11)]
    draw.line(points, fill=(31, 119, 180), width=4)
    draw.rectangle((120, 60, 140, 90), fill=(214, 39, 40))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def with_image(app: Any, file_id: str, name: str) -> None:
    cache = FileCache(None)
    cache._keep(FetchedFile(file_id, name, small_png()))
    app.__dict__["_file_cache"] = cache  # (offline: the bytes files.content would give)


def test_streaming_code_step(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        v = seed_thread(app)
        v.run = RunState(
            id="run_demo", status="in_progress", model="echo", started_at=FIXED_NOW - 2
        )
        v.run_changed()
        v.add(
            CodeStepItem(
                "call_code",
                code=CODE[:70],  # the model is still writing it
                run_id="run_demo",
                started_at=FIXED_NOW - 1.2,
            )
        )
        await app.wait_for_ui()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_finished_code_step_with_logs_and_an_image(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")
    app.image_mode = "halfcell"
    with_image(app, "file-plot", "squares.png")

    async def run_before(pilot: Any) -> None:
        v = seed_thread(app)
        v.add(
            CodeStepItem(
                "call_code",
                code=CODE,
                logs=LOGS,
                images=["file-plot"],
                status="completed",
                run_id="run_demo",
                started_at=FIXED_NOW - 3.4,
                ended_at=FIXED_NOW - 2.1,
            )
        )
        v.add(
            MessageItem(
                "msg_reply",
                "assistant",
                "The sum is **45**; `xs[20]` is out of range.",
                run_id="run_demo",
            )
        )
        v.run = RunState(id="run_demo", status="completed", model="echo", started_at=FIXED_NOW - 4)
        v.run.ended_at = FIXED_NOW - 1
        v.run_changed()
        await app.wait_for_ui()
        await wait_until(
            lambda: (
                (images := list(app.screen.query(InlineImage))) and all(i.loaded for i in images)
            ),
            what="image",
        )
        app.transcript.scroll_end(animate=False, immediate=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def inspector_details() -> RunDetails:
    """A run with a file_search step, a code step (logs, an image) and the reply."""
    t0 = FIXED_NOW - 10
    return RunDetails(
        id="run_demo",
        thread_id="thread_demo",
        status="completed",
        model="echo",
        assistant_id="asst_demo",
        created_at=t0,
        started_at=t0 + 0.2,
        ended_at=t0 + 6.5,
        ended_how="completed",
        usage=Usage(120, 30, 150),
        steps=[
            StepDetail(
                id="step_search",
                type="tool_calls",
                status="completed",
                created_at=t0 + 0.3,
                ended_at=t0 + 0.9,
                tool_calls=[
                    ToolCallDetail(
                        "call_search",
                        "file_search",
                        "file_search",
                        query="otters sleep",
                        results=[
                            SearchResult(
                                "file-otters",
                                "otters.md",
                                0.912,
                                "Sea otters hold hands while they sleep, so they do not drift.",
                            ),
                            SearchResult("file-seals", "seals.md", 0.377, "Seals sleep in water."),
                        ],
                    )
                ],
            ),
            StepDetail(
                id="step_code",
                type="tool_calls",
                status="completed",
                created_at=t0 + 1.0,
                ended_at=t0 + 5.2,
                tool_calls=[
                    ToolCallDetail(
                        "call_code",
                        "code_interpreter",
                        "code_interpreter",
                        "import matplotlib.pyplot as plt\nplt.bar(['otters'], [11])\nplt.show()\nprint('hours: 11')",
                        "hours: 11\n",
                        logs="hours: 11\n",
                        images=[("file-plot", "call_code-image.png")],
                    )
                ],
            ),
            StepDetail(
                id="step_message",
                type="message_creation",
                status="completed",
                created_at=t0 + 5.3,
                ended_at=t0 + 6.4,
                message_id="msg_reply",
                message_text="Sea otters sleep about 11 hours, holding hands.",
            ),
        ],
    )


def test_run_inspector_code_and_file_search(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        v = seed_thread(app)
        v.add(FileSearchItem("call_search", "otters sleep", 2, "completed", "run_demo"))
        await app.wait_for_ui()
        app.push_screen(
            RunInspectorScreen(title="Run inspector · run_demo", details=inspector_details())
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 60), run_before=run_before)
