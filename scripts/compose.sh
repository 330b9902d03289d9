#!/bin/sh
# A local Freshet cluster in Docker containers, with nothing but the docker
# command: a network, a JobManager and N TaskManagers that reach it by its
# container name.
#
#   scripts/compose.sh up [N]   start a JobManager and N TaskManagers (2 by
#                               default), or bring a running cluster to N
#   scripts/compose.sh down     remove the containers and the network
#   scripts/compose.sh ps       list the containers
#
# `up` is idempotent: containers that run the current image are kept, the
# others are replaced, TaskManagers beyond N are removed; it returns when
# at least N TaskManagers have registered with the JobManager. The image is
# built by `make image`. Settings, from the environment:
#
#   FRESHET_COMPOSE_IMAGE    the image (freshet:dev)
#   FRESHET_COMPOSE_NAME     the network's name and the containers' prefix
#                            (freshet: freshet-jobmanager, freshet-taskmanager-1, ...)
#   FRESHET_COMPOSE_REST     where the host reaches the REST API, ip:port
#                            (127.0.0.1:8081; 127.0.0.1: picks a free port)
#   FRESHET_COMPOSE_SLOTS    slots per TaskManager (2)
#   FRESHET_COMPOSE_TIMEOUT  seconds `up` waits for the TaskManagers (60)
#   FRESHET_COMPOSE_VOLUME   a host directory (absolute path) bind-mounted at
#                            the same path in the JobManager and every
#                            TaskManager, for checkpoints and output files
#                            they share (none). The containers run as user
#                            65532: make it writable for it (chmod 0777 DIR).
#   FRESHET_COMPOSE_PROPS    extra configuration for every freshet process, as
#                            -D key=value words (none), e.g.
#                            '-D heartbeat.interval=300ms -D heartbeat.timeout=3s';
#                            letters, digits, blanks and _.,:=/@+- only.
#
# A container whose image or settings (slots, volume, properties) are not
# the current ones is replaced by `up`.
#
# Exit status: 0 done, 1 failed (the message says why), 2 usage error.
set -eu

usage() {
	printf 'usage: %s up [N] | down | ps\n' "$0" >&2
	exit 2
}

say() { printf 'compose: %s\n' "$*"; }
die() {
	printf 'compose: %s\n' "$*" >&2
	exit 1
}

# whole tells whether $1 is a whole number.
whole() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	esac
}

image=${FRESHET_COMPOSE_IMAGE:-freshet:dev}
name=${FRESHET_COMPOSE_NAME:-freshet}
rest=${FRESHET_COMPOSE_REST:-127.0.0.1:8081}
slots=${FRESHET_COMPOSE_SLOTS:-2}
timeout=${FRESHET_COMPOSE_TIMEOUT:-60}
volume=${FRESHET_COMPOSE_VOLUME:-}
props=${FRESHET_COMPOSE_PROPS:-}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up)
	[ $# -le 1 ] || usage
	n=${1:-2}
	whole "$n" || { printf 'compose: N must be a whole number, got %s\n' "$n" >&2; usage; }
	;;
down | ps)
	[ $# -eq 0 ] || usage
	;;
*) usage ;;
esac
case $name in
[a-zA-Z0-9]*) ;;
*) die "FRESHET_COMPOSE_NAME must start with a letter or digit, got '$name'" ;;
esac
case $name in
*[!a-zA-Z0-9_.-]*) die "FRESHET_COMPOSE_NAME may hold only letters, digits, '_', '.' and '-', got '$name'" ;;
esac
if ! whole "$slots" || [ "$slots" -lt 1 ]; then
	die "FRESHET_COMPOSE_SLOTS must be a number of slots, got '$slots'"
fi
whole "$timeout" || die "FRESHET_COMPOSE_TIMEOUT must be a number of seconds, got '$timeout'"
# The volume and the properties are split into words unquoted: they may
# hold no character the shell or docker run's --volume would read.
case $volume in
'' | /*) ;;
*) die "FRESHET_COMPOSE_VOLUME must be an absolute path, got '$volume'" ;;
esac
case $volume in
*[!a-zA-Z0-9_./-]*) die "FRESHET_COMPOSE_VOLUME may hold only letters, digits and '_', '.', '/', '-', got '$volume'" ;;
esac
case $props in
*[!a-zA-Z0-9_.,:=/@+\ -]*) die "FRESHET_COMPOSE_PROPS may hold only letters, digits, blanks and '_', '.', ',', ':', '=', '/', '@', '+', '-', got '$props'" ;;
esac

command -v docker >/dev/null 2>&1 || die "the docker command is not installed"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (docker info fails): start it and rerun"

# Every container and the network carry this label; down removes what has it.
label=io.freshet.compose=$name
jm=$name-jobmanager

# state prints a container's status (running, exited, ...) or nothing.
state() { docker inspect --format '{{.State.Status}}' "$1" 2>/dev/null || true; }

# keep tells whether container $1 runs the current image with settings $2
# (its io.freshet.settings label), removing it if it exists but does not.
keep() {
	st=$(state "$1")
	[ -n "$st" ] || return 1
	if [ "$st" = running ]; then
		case $(docker inspect --format '{{.Image}} {{index .Config.Labels "io.freshet.settings"}}' "$1") in
		"$image_id $2")
			say "$1: running"
			return 0
			;;
		"$image_id "*) say "$1: runs with other settings, replacing it" ;;
		*) say "$1: runs another image, replacing it" ;;
		esac
	else
		say "$1: $st, replacing it"
	fi
	docker rm -f "$1" >/dev/null
	return 1
}

# start runs container $1 with role $2 and settings $3; the rest are
# docker run's options, then --, then the freshet command's arguments, to
# which it adds the properties.
start() {
	c=$1 role=$2 settings=$3
	shift 3
	opts=
	while [ "$1" != -- ]; do
		opts="$opts $1"
		shift
	done
	shift
	if [ -n "$volume" ]; then
		opts="$opts --volume $volume:$volume"
	fi
	# shellcheck disable=SC2086 # opts and props hold words without blanks
	docker run -d --name "$c" --hostname "$c" --network "$name" \
		--label "$label" --label "io.freshet.role=$role" --label "io.freshet.settings=$settings" \
		$opts "$image" "$@" $props >/dev/null
	say "$c: started"
}

# failed ends the script if container $1 is not running, with its last logs.
failed() {
	st=$(state "$1")
	[ "$st" != running ] || return 0
	printf 'compose: %s is not running (%s); its last logs:\n' "$1" "${st:-gone}" >&2
	docker logs --tail 20 "$1" >&2 2>&1 || true
	die "$1 did not start; 'scripts/compose.sh down' removes the cluster"
}

up() {
	image_id=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) ||
		die "no image $image: build it with 'make image' (or set FRESHET_COMPOSE_IMAGE)"
	if [ -n "$volume" ] && [ ! -d "$volume" ]; then
		die "FRESHET_COMPOSE_VOLUME $volume is not a directory: create it (mkdir -p $volume && chmod 0777 $volume)"
	fi

	if docker network inspect "$name" >/dev/null 2>&1; then
		say "network $name: exists"
	else
		docker network create --label "$label" "$name" >/dev/null
		say "network $name: created"
	fi

	# Every process listens on its container's name, which resolves to
	# the container's address on the network: the JobManager's RPC service
	# and job masters (jobmanager.rpc.address), a TaskManager's service
	# and workers (--host).
	jm_settings="volume=$volume props=$props"
	keep "$jm" "$jm_settings" || start "$jm" jobmanager "$jm_settings" --publish "$rest:8081" -- \
		jobmanager -D "jobmanager.rpc.address=$jm"

	i=1
	while [ "$i" -le "$n" ]; do
		c=$name-taskmanager-$i
		keep "$c" "slots=$slots $jm_settings" || start "$c" taskmanager "slots=$slots $jm_settings" -- \
			taskmanager --jobmanager "$jm:6123" --slots "$slots" --host "$c" --id "$c"
		i=$((i + 1))
	done
	for c in $(docker ps -a --filter "label=$label" --filter label=io.freshet.role=taskmanager --format '{{.Names}}'); do
		i=${c##*-}
		if ! whole "$i" || [ "$i" -gt "$n" ]; then
			docker rm -f "$c" >/dev/null
			say "$c: removed"
		fi
	done

	# Wait until the JobManager counts at least n TaskManagers (one
	# removed just now counts until its heartbeats time out).
	deadline=$(($(date +%s) + timeout))
	while :; do
		failed "$jm"
		i=1
		while [ "$i" -le "$n" ]; do
			failed "$name-taskmanager-$i"
			i=$((i + 1))
		done
		got=$(docker exec "$jm" /freshet overview --address http://127.0.0.1:8081 --output json 2>/dev/null |
			sed -n 's/^ *"taskmanagers": *\([0-9][0-9]*\).*/\1/p') || true
		if [ -n "$got" ] && [ "$got" -ge "$n" ]; then
			break
		fi
		[ "$(date +%s)" -lt "$deadline" ] ||
			die "$n TaskManagers did not register within ${timeout}s (the JobManager counts ${got:-none}); see 'docker logs $jm'"
		sleep 0.2
	done
	addr=$(docker port "$jm" 8081/tcp | head -n 1)
	say "up: $jm and $n TaskManager(s) on network $name; the JobManager counts $got"
	say "REST API: http://$addr (freshet list --address http://$addr)"
}

down() {
	removed=0
	for c in $(docker ps -a --filter "label=$label" --format '{{.Names}}'); do
		docker rm -f "$c" >/dev/null
		say "$c: removed"
		removed=1
	done
	if docker network inspect "$name" >/dev/null 2>&1; then
		if [ "$(docker network inspect --format "{{index .Labels \"io.freshet.compose\"}}" "$name")" = "$name" ]; then
			docker network rm "$name" >/dev/null
			say "network $name: removed"
			removed=1
		else
			say "network $name: not created by compose.sh, left alone"
		fi
	fi
	[ "$removed" = 1 ] || say "nothing to remove: no containers labelled $label"
}

status() {
	docker ps -a --filter "label=$label" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
}

case $cmd in
up) up ;;
down) down ;;
ps) status ;;
esac
