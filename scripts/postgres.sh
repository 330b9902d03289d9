#!/bin/sh
# Installs PostgreSQL from Debian's packages if it is missing and starts two
# throw-away clusters for the tests of connector/postgres, listening on
# 127.0.0.1 only with trust authentication:
#
#   port 54329: max_prepared_transactions = 64 (FRESHET_POSTGRES_DSN)
#   port 54330: max_prepared_transactions = 0  (FRESHET_POSTGRES_NO2PC_DSN)
#
# FRESHET_POSTGRES_DATA and FRESHET_POSTGRES_BIN let tests restart the first.
#
# It needs root and no systemd. Running it again leaves running clusters
# as they are. It prints the environment to export, e.g.
#
#   eval "$(sh scripts/postgres.sh)"
#
# FRESHET_POSTGRES_DIR (default /var/tmp/freshet-postgres) holds the data.
set -eu

base=${FRESHET_POSTGRES_DIR:-/var/tmp/freshet-postgres}

bindir() {
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

bin=$(bindir || true)
if [ -z "$bin" ]; then
	echo "installing postgresql from Debian's packages" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends postgresql >&2
	bin=$(bindir)
fi

major=$(basename "$(dirname "$bin")")

# as_pg runs a command as the postgres user (the server refuses root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# cluster DIR PORT MAX_PREPARED initialises DIR if needed and starts it.
cluster() {
	dir=$1 port=$2 mpt=$3
	# A cluster of another major version (the packages changed) is
	# thrown away: it holds only test data.
	if [ -f "$dir/PG_VERSION" ] && [ "$(cat "$dir/PG_VERSION")" != "$major" ]; then
		as_pg "$bin/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$dir"
	fi
	if [ ! -f "$dir/PG_VERSION" ]; then
		mkdir -p "$dir"
		[ "$(id -u)" = 0 ] && chown postgres:postgres "$base" "$dir"
		as_pg "$bin/initdb" -D "$dir" -U postgres -A trust -E UTF8 --no-sync >/dev/null
		cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_prepared_transactions = $mpt
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
	fi
	if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
		as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
	fi
	i=0
	until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do
		i=$((i + 1))
		if [ "$i" -gt 120 ]; then
			echo "postgres on 127.0.0.1:$port is not ready; see $dir/server.log" >&2
			exit 1
		fi
		sleep 0.5
	done
}

mkdir -p "$base"
cluster "$base/main" 54329 64
cluster "$base/no2pc" 54330 0

echo "export FRESHET_POSTGRES_DSN='postgres://postgres@127.0.0.1:54329/postgres?sslmode=disable'"
echo "export FRESHET_POSTGRES_NO2PC_DSN='postgres://postgres@127.0.0.1:54330/postgres?sslmode=disable'"
# For tests that restart the server: pg_ctl -D "$FRESHET_POSTGRES_DATA" restart,
# as the postgres user.
echo "export FRESHET_POSTGRES_DATA='$base/main' FRESHET_POSTGRES_BIN='$bin'"
