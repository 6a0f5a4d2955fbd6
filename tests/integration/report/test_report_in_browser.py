"""The teacher's report as a browser shows it: headless Chromium renders the page.

Unit tests read the HTML as text; only a browser shows that the page is laid out and
coloured as meant, and that hostile essay ids stay text once parsed, scripts enabled. Two
runs of Debian's ``chromium`` per test module: a screenshot (checked for content and for
every grade's colour) and the DOM after load (checked for the ranking, the legend and the
absence of anything an id could have injected).

Chromium is found on PATH; without it the module is skipped, except in CI, where a missing
browser is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cj_worker.report.model import report_data
from cj_worker.report.page import write_report
from cj_worker.report.palette import grade_colours
from tests.builders.results import SWEDISH, batch_results

pytestmark = pytest.mark.integration
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

WINDOW = (1280, 2400)
PWNED = "document.title='pwned'"
HOSTILE_IDS = [
    f"<script>{PWNED}</script>",
    "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">",
    f"</table></svg><script>{PWNED}</script>",
]
TITLE = "Comparative judgement report: batch"
WARNING_ROW = (0xFD, 0xEC, 0xEA)
"""Background of the row of an anchor outside its band (``tr.outside`` in the page's CSS)."""


@dataclass(frozen=True)
class Rendered:
    ids: list[str]
    """The essay ids in rank order."""
    screenshot: Path
    dom: str


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set, so this fails instead of skipping")
        pytest.skip(message)
    return path


def run_chromium(chromium: str, profile: Path, *arguments: str) -> str:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def rendered(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    folder = tmp_path_factory.mktemp("report-in-browser")
    ids = [*HOSTILE_IDS, *(f"pupil-{k:02d}" for k in range(21))]
    results = batch_results(ids=ids, misfit_ranks=(6,), outfit={10: 33.0})
    page = write_report(results, folder / "report.html").path
    url = page.resolve().as_uri()
    screenshot = folder / "screenshot.png"
    run_chromium(
        chromium,
        folder / "profile-shot",
        f"--screenshot={screenshot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        url,
    )
    dom = run_chromium(
        chromium, folder / "profile-dom", "--virtual-time-budget=3000", "--dump-dom", url
    )
    ranked = [essay.essay_id for essay in report_data(results).essays]
    return Rendered(ranked, screenshot, dom)


class Texts(HTMLParser):
    """Text of the elements of one class, in document order."""

    def __init__(self, css_class: str, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.css_class = css_class
        self.found: list[str] = []
        self._inside = 0
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._inside:
            self._inside += 1
        elif (dict(attrs).get("class") or "").split().count(self.css_class):
            self._inside = 1
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._inside:
            self._inside -= 1

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.found[-1] += data


def test_the_screenshot_shows_a_page_in_every_grade_colour(rendered: Rendered) -> None:
    with Image.open(rendered.screenshot) as image:
        pixels = image.convert("RGB")
    counts = {colour: count for count, colour in pixels.getcolors(maxcolors=1 << 24)}

    assert pixels.size == WINDOW
    white = sum(n for (r, g, b), n in counts.items() if min(r, g, b) >= 0xF8)
    assert white < 0.93 * WINDOW[0] * WINDOW[1], "the page is not blank"
    assert len(counts) > 500, "text, bars and chips, not a flat fill"
    for grade, colour in zip(SWEDISH, grade_colours(len(SWEDISH)), strict=True):
        rgb = tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))
        near = sum(
            n
            for pixel, n in counts.items()
            if max(abs(a - b) for a, b in zip(pixel, rgb, strict=True)) <= 3
        )
        assert near >= 300, f"grade {grade} ({colour}) shows in chips and bars: {near} px"
    assert counts.get(WARNING_ROW, 0) >= 5000, "the anchor outside its band is highlighted"


def test_the_rendered_page_holds_the_ranking_and_its_explanations(rendered: Rendered) -> None:
    ranking = rendered.dom.split('id="ranking"')[1].split("</table>")[0]

    assert Texts("id", ranking).found == rendered.ids
    text = " ".join(re.sub(r"<[^>]+>", " ", rendered.dom).split())
    for expected in (
        "How to read this report",
        "Reliability 0.85: consistent enough to rank",
        "Used the whole budget of",
        "placed in the D band",
        "1 of 4 judges disagree with the others",
        "(outfit 33.0)",
        "Confidence bar",
        "Interpolated grade",
    ):
        assert expected in text


def test_hostile_ids_stay_text_in_the_browser(rendered: Rendered) -> None:
    dom = rendered.dom

    assert "<script" not in dom.lower()
    assert "<img" not in dom.lower()
    assert "data-pwned" not in dom.replace("setAttribute('data-pwned'", "")
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None
    assert title.group(1).startswith(TITLE)
    assert Texts("id", dom).found[:3] == HOSTILE_IDS
