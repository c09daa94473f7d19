"""The README's screenshots: the browser test's page shots (test-output/app/, 1280 px wide) as
small PNGs in docs/ (256-colour palette, at most MAX_HEIGHT px of each page).

    .venv/bin/python -m pytest tests/test_app_browser.py -k browser   # takes the shots
    .venv/bin/python docs/screenshots.py                               # writes docs/*.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "test-output" / "app"
PAGES = ["live", "accuracy", "value", "listings", "model", "drift"]
MAX_HEIGHT = 2700  # the top of a long page (all of most): what a person sees in the first scrolls


def small_png(source: Path, target: Path) -> int:
    image = Image.open(source).convert("RGB")
    image = image.crop((0, 0, image.width, min(image.height, MAX_HEIGHT)))
    # UI shots have few colours: a palette keeps them sharp at a fraction of the size.
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        target, optimize=True)
    return target.stat().st_size


def main() -> int:
    missing = [page for page in PAGES if not (SHOTS / f"{page}.png").exists()]
    if missing:
        print(f"no shot of {', '.join(missing)} in {SHOTS}: run the browser test first (see this file's docstring)")
        return 1
    for page in PAGES:
        size = small_png(SHOTS / f"{page}.png", REPO / "docs" / f"{page}.png")
        print(f"docs/{page}.png: {size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
