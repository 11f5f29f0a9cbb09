#!/bin/sh
# The diversion-sync state database beside Airflow's metadata database, with its own role.
# Run once by the postgres image on an empty data folder (docker-entrypoint-initdb.d).
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$DIVERSION_STATE_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE diversion LOGIN PASSWORD :'pw';
CREATE DATABASE diversion OWNER diversion;
SQL
