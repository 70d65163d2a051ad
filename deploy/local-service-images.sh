#!/bin/bash
# Stand-ins for compose.yaml's PostgreSQL, Redis and haproxy images, built from the local Debian
# base (deploy/local-base-image.sh) on a machine with no registry. For trying compose only: the
# official images are what compose.yaml pins. Then:
#
#   POSTGRES_IMAGE=corral-local/postgres:15-pgvector REDIS_IMAGE=corral-local/redis:7.0 \
#   HAPROXY_IMAGE=corral-local/haproxy:2.6 docker-compose -f deploy/compose.yaml up -d
#
# Debian bookworm has no pgvector package: the extension is copied from this host's PostgreSQL 15
# (`make pgvector` builds it), which must be the same Debian release and PostgreSQL major.
set -euo pipefail
BASE=${BASE_IMAGE:-corral-local/python:3.11-bookworm}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

mkdir -p "$ctx/ext"
cp /usr/lib/postgresql/15/lib/vector.so "$ctx/ext/"
cp /usr/share/postgresql/15/extension/vector* "$ctx/ext/"
# The official image's contract, reduced: POSTGRES_USER (a superuser, so Corral can create the
# vector extension), POSTGRES_PASSWORD and POSTGRES_DB on a fresh data directory.
cat > "$ctx/pg-start.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp); printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-host=scram-sha-256 --auth-local=trust
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  createdb -U "$POSTGRES_USER" "$POSTGRES_DB"
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA"
EOF
chmod 755 "$ctx/pg-start.sh"

nice docker build -t corral-local/postgres:15-pgvector -f - "$ctx" <<EOF
FROM $BASE
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update && apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY ext/vector.so /usr/lib/postgresql/15/lib/
COPY ext/vector*.control ext/vector*.sql /usr/share/postgresql/15/extension/
COPY pg-start.sh /usr/local/bin/
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH PGDATA=/var/lib/postgresql/data
USER postgres
STOPSIGNAL SIGINT
CMD ["pg-start.sh"]
EOF

nice docker build -t corral-local/redis:7.0 -f - "$ctx" <<EOF
FROM $BASE
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
 && apt-get clean && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"]
EOF

# Reads its configuration where the official image does (compose.yaml mounts it there).
nice docker build -t corral-local/haproxy:2.6 -f - "$ctx" <<EOF
FROM $BASE
RUN apt-get update && apt-get install -y --no-install-recommends haproxy \
 && apt-get clean && rm -rf /var/lib/apt/lists/* && mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
EOF
