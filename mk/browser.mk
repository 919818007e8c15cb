# The real-browser check of the rendered book (part of `make test`): Debian's chromium + chromedriver.
.PHONY: browser-env browser-check

browser-env:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "chromium and chromedriver present"; \
	else \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

EXTRA_TEST_PREREQS += browser-env

# Opens the intro and every chapter of the last build in headless Chromium; screenshots in _build/screenshots/.
browser-check: $(STAMP) browser-env
	$(PY) -m neurotype.book.check
