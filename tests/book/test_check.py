"""The browser check can fail: a broken image, a traceback, a wrong 'next' link are caught."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from neurotype.book.runner import Chapter
from neurotype.book.check import check_book

pytestmark = pytest.mark.slow  # starts headless Chromium: not part of make test-fast

PNG_1x1 = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")

needs_chromium = pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")) and not os.environ.get("CI"),
    reason="chromium/chromedriver not installed (make browser-env); required under CI")


def _page(title: str, body: str, next_page: str | None) -> str:
    nav = f'<a class="right-next" href="{next_page}">next</a>' if next_page else ""
    return f"<html><head><title>{title}</title></head><body><main>{body}</main>{nav}</body></html>"


@needs_chromium
def test_good_and_bad_pages(tmp_path: Path):
    html = tmp_path / "html"
    html.mkdir()
    (html / "fig.png").write_bytes(PNG_1x1)
    (html / "intro.html").write_text(_page("Intro", "<p>hello</p>", "good.html"))
    (html / "good.html").write_text(_page("Good", '<img src="fig.png">', "bad.html"))
    (html / "bad.html").write_text(_page("Bad", '<img src="missing.png"><pre>Traceback (most recent call last)</pre>'
                                              '<a href="gone.html">x</a>', None))
    pages = [Chapter("intro", Path("intro.md")), Chapter("good", Path("good.py")), Chapter("bad", Path("bad.py"))]
    results = {r.name: r for r in check_book(html, tmp_path / "shots", pages=pages)}
    assert results["intro"].ok and results["good"].ok and results["good"].images == 1
    problems = " | ".join(results["bad"].problems)
    assert "did not render" in problems and "Traceback" in problems and "broken link to gone.html" in problems
    assert (tmp_path / "shots" / "good.png").stat().st_size > 0


SIDEBAR = ('<div class="bd-sidebar-secondary" style="position:fixed; left:1100px; top:0; width:250px; '
           'height:400px">contents</div>')


@needs_chromium
def test_overlap_with_the_contents_column_and_tables_numbered_as_figures(tmp_path: Path):
    html = tmp_path / "html"
    html.mkdir()
    wide = '<table style="width:1800px"><tr><td>a very wide table</td></tr></table>'
    (html / "intro.html").write_text(_page("Intro", "<p>hello</p>", "scrolls.html"))
    (html / "scrolls.html").write_text(_page(
        "Scrolls", f'{SIDEBAR}<article style="width:1000px"><div style="overflow-x:auto">{wide}</div>'
                   '<figure><table><tr><td>x</td></tr></table><figcaption><span class="caption-number">'
                   'Table 1 </span>fine</figcaption></figure></article>', "overlaps.html"))
    (html / "overlaps.html").write_text(_page(
        "Overlaps", f'{SIDEBAR}<article style="width:1000px">{wide}<figure><table><tr><td>x</td></tr></table><figcaption>'
                    '<span class="caption-number">Fig. 2 </span>a table</figcaption></figure></article>', None))
    pages = [Chapter("intro", Path("intro.md")), Chapter("scrolls", Path("scrolls.md")),
             Chapter("overlaps", Path("overlaps.md"))]
    results = {r.name: r for r in check_book(html, tmp_path / "shots", pages=pages)}
    assert results["scrolls"].ok, results["scrolls"].problems
    problems = " | ".join(results["overlaps"].problems)
    assert "right-hand contents column" in problems and "numbered as figures" in problems
