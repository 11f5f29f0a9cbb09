# diversion-sync on the official Airflow image: the project, its ODBC drivers and pinned packages.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends unixodbc odbc-postgresql libsqliteodbc tdsodbc \
 && rm -rf /var/lib/apt/lists/*
USER airflow
COPY --chown=airflow:root . /opt/diversion-sync
RUN pip install --no-cache-dir -c /opt/diversion-sync/constraints.txt -e /opt/diversion-sync
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/diversion-sync/dags \
    DIVERSION_DATA_DIR=/opt/diversion-sync/var
