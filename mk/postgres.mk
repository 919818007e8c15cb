# PostgreSQL for the scale-out test (tests/protocol/test_scaleout.py starts a throwaway server with
# initdb/pg_ctl as an unprivileged user) and for tuning on several machines: Debian's postgresql.
# Debian keeps the binaries in /usr/lib/postgresql/<version>/bin, off PATH; the test looks there.
# The Python driver (psycopg) comes with requirements.txt.
.PHONY: postgres-env

postgres-env:
	@if { command -v initdb && command -v pg_ctl; } >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "PostgreSQL server binaries present"; \
	else \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; \
	fi

EXTRA_TEST_PREREQS += postgres-env
