# diversion-sync on the official Airflow image: the project, its ODBC drivers (FreeTDS for the
# SQL Server records system, psqlODBC, SQLite3) and its pinned packages. One image for every Airflow
# service in docker-compose.yml. Only the project's code and configuration are copied: never
# .env, docker/secrets, var/ or the local .venv.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends unixodbc odbc-postgresql libsqliteodbc tdsodbc \
 && rm -rf /var/lib/apt/lists/*
USER airflow
WORKDIR /opt/diversion-sync
COPY --chown=airflow:root pyproject.toml constraints.txt README.md ./
COPY --chown=airflow:root connectors ./connectors
COPY --chown=airflow:root transforms ./transforms
COPY --chown=airflow:root schemas ./schemas
COPY --chown=airflow:root pipeline ./pipeline
COPY --chown=airflow:root demo ./demo
COPY --chown=airflow:root dags ./dags
COPY --chown=airflow:root config ./config
COPY --chown=airflow:root docker/render_config.py docker/seed_yot_drops.py ./docker/
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && python -c "import airflow.providers.celery, redis, psycopg2, pyodbc"  # CeleryExecutor's parts come with the image
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/diversion-sync/dags \
    DIVERSION_DATA_DIR=/opt/diversion-sync/var
