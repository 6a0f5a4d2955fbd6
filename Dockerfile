# One image, several roles: the command picks one (cj-worker migrate | worker | beat | flower).
# See docker-compose.yml for a whole deployment and ops/runbook.md for running it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group cj

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY cj_worker ./cj_worker
# cj_worker/db/migrate.py finds the migrations beside the package (/app/alembic), so the
# package must run from /app: an editable install. A plain `pip install .` would run it
# from site-packages, where no alembic/ folder sits beside it, and `cj-worker migrate` fails.
COPY alembic ./alembic
RUN pip install --no-compile -e . \
    && python -c "from cj_worker.db.migrate import alembic_config; alembic_config('sqlite://')"

# Root owns the code; the worker runs as cj and writes only to /tmp (metrics, beat schedule).
USER cj
EXPOSE 9808 5555
ENTRYPOINT ["cj-worker"]
CMD ["worker"]
