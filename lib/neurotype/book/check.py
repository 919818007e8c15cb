"""Open the rendered book in a real headless Chromium and check what a reader would see.

For the intro and every chapter page: the page loads; every image has rendered (natural
width and height above zero); chapters have at least one figure; no "Traceback" or error
output is shown; every link between pages points at a page that exists; and the "next"
button leads to the next page of the table of contents; at 1400 × 1000 px no table, figure,
code or output block reaches under the right-hand contents column (content that scrolls inside
its own box is fine); and no table is numbered as a figure ("Fig."). A full-page screenshot of
each page is saved under ``_build/screenshots/``.

    python -m neurotype.book.check [--html _build/html]

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser-env`` installs them).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from neurotype import paths
from neurotype.book.runner import Chapter, chapters_from_toc

__all__ = ["PageResult", "check_book", "main"]

#: The reader's window: wide enough that the theme shows the right-hand contents column.
WIDTH, HEIGHT = 1400, 1000
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}")
ERROR_SELECTORS = (".output.traceback", ".output.error", ".output.stderr", "div.system-message")

#: Elements of the article that stick out under the right-hand column (clipped by any ancestor that
#: scrolls or hides its overflow, since such content does not overlap).
OVERLAP_SCRIPT = """
const side = document.querySelector('.bd-sidebar-secondary');
if (!side) return [];
const edge = side.getBoundingClientRect().left;
if (side.getBoundingClientRect().width === 0) return [];
const found = [];
for (const el of document.querySelectorAll(
        'article table, article img, article pre, article .cell_output, article figure, article .math')) {
  const box = el.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) continue;
  let right = box.right;
  for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
    if (getComputedStyle(up).overflowX !== 'visible') right = Math.min(right, up.getBoundingClientRect().right);
  }
  if (right > edge + 1) found.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} reaches ${Math.round(right)} px`);
}
return found;
"""
#: Captions of tables that Sphinx numbered as figures.
TABLE_AS_FIGURE_SCRIPT = """
return Array.from(document.querySelectorAll('figure'))
  .filter(f => f.querySelector('table') && /^\\s*Fig/.test((f.querySelector('.caption-number') || {}).textContent || ''))
  .map(f => (f.querySelector('figcaption') || f).textContent.trim().slice(0, 60));
"""


@dataclass
class PageResult:
    """What the browser found on one page."""

    name: str
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _driver(user_data_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not Path(binary).exists() or not Path(driver_path).exists():
        raise FileNotFoundError("chromium and chromedriver are needed (Debian packages chromium, chromium-driver; "
                                "`make browser-env` installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def _local_target(href: str) -> Path | None:
    parsed = urlparse(href)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def _screenshot(driver, target: Path) -> None:
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 16000)")
    driver.set_window_size(WIDTH, max(800, int(height)))
    driver.save_screenshot(str(target))
    driver.set_window_size(WIDTH, HEIGHT)


def check_book(html_dir: Path = paths.BUILD / "html", screenshots: Path = paths.BUILD / "screenshots",
               pages: list[Chapter] | None = None) -> list[PageResult]:
    """Check every page of the table of contents (or ``pages``) in headless Chromium."""
    html_dir = Path(html_dir).resolve()
    screenshots.mkdir(parents=True, exist_ok=True)
    pages = chapters_from_toc() if pages is None else pages
    results: list[PageResult] = []
    with tempfile.TemporaryDirectory() as profile:
        driver = _driver(profile)
        try:
            for position, page in enumerate(pages):
                result = PageResult(page.name)
                results.append(result)
                path = html_dir / f"{page.page}.html"
                if not path.is_file():
                    result.problems.append(f"{path} was not rendered")
                    continue
                driver.get(path.as_uri())
                if not driver.title:
                    result.problems.append("the page has no title (did it load?)")
                images = driver.execute_script(
                    "return Array.from(document.querySelectorAll('main img, article img, .bd-article img'))"
                    ".map(i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight])")
                result.images = len(images)
                result.broken_images = [src for src, complete, w, h in images if not (complete and w > 0 and h > 0)]
                if result.broken_images:
                    result.problems.append(f"{len(result.broken_images)} image(s) did not render: "
                                           f"{result.broken_images[:3]}")
                if page.executable and position > 0 and result.images == 0:  # the root page is a summary
                    result.problems.append("a chapter page without any rendered figure")
                text = driver.execute_script("return document.body.innerText")
                if "Traceback" in text:
                    result.problems.append("the page shows a Traceback")
                for selector in ERROR_SELECTORS:
                    found = driver.execute_script(f"return document.querySelectorAll({selector!r}).length")
                    if found:
                        result.problems.append(f"{found} element(s) matching {selector} (error output)")
                links = driver.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
                for href in links:
                    target = _local_target(href)
                    if target is not None and target.suffix == ".html" and not target.is_file():
                        result.problems.append(f"broken link to {target.name}")
                if position + 1 < len(pages):
                    following = driver.execute_script(
                        "const a = document.querySelector('a.right-next'); return a ? a.href : null")
                    expected = f"{pages[position + 1].name}.html"
                    if following is None or not urlparse(following).path.endswith(expected):
                        result.problems.append(f"the 'next' link goes to {following!r}, not {expected}")
                overlapping = driver.execute_script(OVERLAP_SCRIPT)
                if overlapping:
                    result.problems.append(f"{len(overlapping)} element(s) run under the right-hand contents column "
                                           f"at {WIDTH} px: {overlapping[:3]}")
                misnumbered = driver.execute_script(TABLE_AS_FIGURE_SCRIPT)
                if misnumbered:
                    result.problems.append(f"{len(misnumbered)} table(s) numbered as figures: {misnumbered[:3]}")
                result.screenshot = screenshots / f"{page.name}.png"
                _screenshot(driver, result.screenshot)
        finally:
            driver.quit()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurotype.book.check", description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=paths.BUILD / "html")
    parser.add_argument("--screenshots", type=Path, default=paths.BUILD / "screenshots")
    args = parser.parse_args(argv)
    try:
        results = check_book(args.html, args.screenshots)
    except FileNotFoundError as error:
        print(f"book_check: {error}", file=sys.stderr)
        return 2
    for result in results:
        status = "ok " if result.ok else "BAD"
        print(f"[book_check] {status} {result.name}: {result.images} image(s)"
              + "".join(f"\n    - {p}" for p in result.problems))
    failed = [r.name for r in results if not r.ok]
    print(f"[book_check] {len(results) - len(failed)}/{len(results)} pages passed; screenshots in {args.screenshots}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
