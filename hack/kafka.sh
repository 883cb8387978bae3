#!/usr/bin/env bash
# Fetch, cache and run a real Apache Kafka broker (KRaft mode, loopback only)
# for integration and fault tests. Needs only Maven and Java 17+.
#
#   hack/kafka.sh fetch                          resolve + cache jars, print cache dir
#   hack/kafka.sh start <statedir>               1 combined broker+controller node
#   hack/kafka.sh cluster-start <statedir> <n>   n combined nodes in one KRaft quorum
#   hack/kafka.sh stop <statedir>                SIGTERM all nodes, SIGKILL after timeout
#   hack/kafka.sh kill-node <statedir> <i>       SIGKILL node i (1-based)
#   hack/kafka.sh restart-node <statedir> <i>    start node i again (same config + data)
#   hack/kafka.sh status <statedir>              print "node<i> <pid|down> <port>" lines
#   hack/kafka.sh perf-producer <bootstrap> <args...>   ProducerPerformance
#   hack/kafka.sh perf-consumer <bootstrap> <args...>   ConsumerPerformance
#   hack/kafka.sh topics <bootstrap> <args...>          TopicCommand
#   hack/kafka.sh run-class <class> <args...>           any class on the Kafka classpath
#   hack/kafka.sh classpath                             print the classpath
#
# State directory layout (start / cluster-start):
#   <statedir>/bootstrap   comma-separated 127.0.0.1:<port> list
#   <statedir>/version     Kafka version
#   <statedir>/node<i>/{server.properties,pid,port,controller_port,broker.log,stdout.log,data/}
#   single node only: <statedir>/pid -> node1/pid, <statedir>/broker.log -> node1/broker.log
#
# Environment:
#   KAFKA_VERSION        (4.4.0)  Kafka version to fetch/run
#   KAFKA_LOG4J_VERSION  (pom)    log4j2 version of the slf4j binding
#   KAFKA_HEAP           (-Xmx512m -Xms128m)  broker heap flags
#   KAFKA_JVM_OPTS       extra broker JVM flags
#   KAFKA_TOOLS_HEAP     (-Xmx256m) heap flags of the tools
#   KAFKA_START_TIMEOUT  (60)  seconds to wait for nodes to come up
#   KAFKA_STOP_TIMEOUT   (20)  seconds between SIGTERM and SIGKILL
#   KAFKA_EXTRA_CONFIG   extra server.properties lines appended to every node
#   KAFKA_MVN_ARGS       extra mvn arguments for fetch (e.g. -Dmaven.repo.local=...)
#   SOPAIPILLAS_CACHE    cache root (${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas)
set -o errexit -o nounset -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KAFKA_DIR=$HERE/kafka
KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
CACHE_ROOT=${SOPAIPILLAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sopaipillas}
KAFKA_HEAP=${KAFKA_HEAP:--Xmx512m -Xms128m}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:-}
KAFKA_TOOLS_HEAP=${KAFKA_TOOLS_HEAP:--Xmx256m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-20}

die() { echo "kafka.sh: $*" >&2; exit 1; }

set_version() {
	KAFKA_VERSION=$1
	CACHE=$CACHE_ROOT/kafka-$KAFKA_VERSION
	LIBS=$CACHE/libs
}
set_version "$KAFKA_VERSION"

# ---------------------------------------------------------------- fetching

fetch() {
	[[ -f $CACHE/.complete ]] && return 0
	command -v mvn >/dev/null || die "mvn not found on PATH"
	mkdir -p "$CACHE"
	(
		flock 9
		[[ -f $CACHE/.complete ]] && exit 0
		local tmp=$CACHE/libs.tmp.$$
		rm -rf "$tmp"
		echo "kafka.sh: fetching Kafka $KAFKA_VERSION jars into $LIBS (once)" >&2
		# shellcheck disable=SC2086
		if ! mvn -q -B -f "$KAFKA_DIR/pom.xml" \
			-Dkafka.version="$KAFKA_VERSION" \
			${KAFKA_LOG4J_VERSION:+-Dlog4j.version="$KAFKA_LOG4J_VERSION"} \
			${KAFKA_MVN_ARGS:-} \
			dependency:copy-dependencies -DincludeScope=runtime \
			-DoutputDirectory="$tmp" 2>&1 | sed -e "s/\x1b\[[0-9;]*m//g" -e "/^$/d" >&2; then
			rm -rf "$tmp"
			die "mvn failed to resolve Kafka $KAFKA_VERSION"
		fi
		compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "no kafka_2.13 jar resolved"
		rm -rf "$LIBS"
		mv "$tmp" "$LIBS"
		touch "$CACHE/.complete"
	) 9>"$CACHE/.lock"
}

classpath() { echo "$LIBS/*"; }

run_tool() { # <class> <args...>
	fetch
	# shellcheck disable=SC2086
	exec java $KAFKA_TOOLS_HEAP -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-tools.xml" \
		-cp "$(classpath)" "$@"
}

# ---------------------------------------------------------------- ports

port_busy() { # <port>: true if anything in this netns uses it, or it accepts connections
	local hex
	hex=$(printf ':%04X ' "$1")
	if cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qF "$hex"; then
		return 0
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ALLOCATED=" "
free_port() { # sets PORT to a free loopback port below the ephemeral range
	local p tries=0
	while ((tries++ < 500)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		[[ $ALLOCATED == *" $p "* ]] && continue
		port_busy "$p" && continue
		ALLOCATED+="$p "
		PORT=$p
		return 0
	done
	die "could not find a free port"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive <pid>: signalable and not a zombie (an unreaped zombie still answers kill -0)
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	if [[ -r /proc/$1/stat ]]; then
		local stat
		stat=$(<"/proc/$1/stat") || return 1
		stat=${stat##*) }
		[[ ${stat%% *} != Z ]] || return 1
	fi
}

# ---------------------------------------------------------------- processes

abs_dir() { mkdir -p -- "$1" && (cd -- "$1" && pwd); }

node_pid() { # <nodedir>: prints pid if the node's JVM is running
	local nd=$1 pid
	[[ -f $nd/pid ]] || return 1
	pid=$(<"$nd/pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	if [[ -r /proc/$pid/cmdline ]]; then
		# Guard against pid reuse: it must be our JVM for this node.
		tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$nd/server.properties" || return 1
	fi
	echo "$pid"
}

node_dirs() { # <statedir>: node dirs in order
	local sd=$1 i=1
	while [[ -d $sd/node$i ]]; do
		echo "$sd/node$i"
		i=$((i + 1))
	done
}

launch_node() { # <nodedir>
	local nd=$1 off=0 i
	[[ -f $nd/broker.log ]] && off=$(stat -c %s "$nd/broker.log")
	echo "$off" >"$nd/log.offset"
	rm -f "$nd/pid"
	# shellcheck disable=SC2086
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$nd/pid" \
		java $KAFKA_HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dkafka.logs.dir="$nd" \
		-Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-broker.xml" \
		$KAFKA_JVM_OPTS \
		-cp "$(classpath)" kafka.Kafka "$nd/server.properties" \
		</dev/null >>"$nd/stdout.log" 2>&1 &
	for ((i = 0; i < 100; i++)); do
		[[ -s $nd/pid ]] && return 0
		sleep 0.05
	done
	die "node $nd did not write its pid"
}

log_tail() { # <nodedir>
	local nd=$1
	echo "---- $nd/broker.log (tail) ----" >&2
	tail -n 40 "$nd/broker.log" >&2 2>/dev/null || true
	if [[ -s $nd/stdout.log ]]; then
		echo "---- $nd/stdout.log (tail) ----" >&2
		tail -n 20 "$nd/stdout.log" >&2
	fi
}

node_started() { # <nodedir>: "Kafka Server started" logged since launch and port accepting
	local nd=$1 off
	off=$(<"$nd/log.offset")
	[[ -f $nd/broker.log ]] || return 1
	tail -c +"$((off + 1))" "$nd/broker.log" | grep -q 'Kafka Server started' || return 1
	port_open "$(<"$nd/port")"
}

wait_ready() { # <nodedir>...: returns 1 (after printing logs) on failure
	local deadline=$((SECONDS + START_TIMEOUT)) nd
	for nd in "$@"; do
		until node_started "$nd"; do
			if ! node_pid "$nd" >/dev/null; then
				echo "kafka.sh: node $nd exited during startup" >&2
				log_tail "$nd"
				return 1
			fi
			if ((SECONDS >= deadline)); then
				echo "kafka.sh: node $nd not up after ${START_TIMEOUT}s" >&2
				log_tail "$nd"
				return 1
			fi
			sleep 0.2
		done
	done
}

signal_nodes() { # <signal> <timeout> <nodedir>...: signal, wait, SIGKILL leftovers
	local sig=$1 timeout=$2 nd pid deadline
	shift 2
	local -a pids=() live=()
	for nd in "$@"; do
		if pid=$(node_pid "$nd"); then
			kill "-$sig" "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	deadline=$((SECONDS + timeout))
	while :; do
		live=()
		for pid in ${pids[@]+"${pids[@]}"}; do
			if alive "$pid"; then live+=("$pid"); fi
		done
		((${#live[@]} == 0)) && break
		if ((SECONDS >= deadline)); then
			[[ $sig == KILL ]] && die "pids ${live[*]} survive SIGKILL"
			echo "kafka.sh: SIGKILL ${live[*]} after ${timeout}s" >&2
			kill -KILL "${live[@]}" 2>/dev/null || true
			sig=KILL
			deadline=$((SECONDS + 10))
		fi
		sleep 0.1
	done
	for nd in "$@"; do
		rm -f "$nd/pid"
	done
}

# ---------------------------------------------------------------- commands

cluster_start() { # <statedir> <n>
	local n=$2 sd nd i attempt rf minisr voters bootstrap cid
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "bad node count: $n"
	sd=$(abs_dir "$1")
	for nd in $(node_dirs "$sd"); do
		node_pid "$nd" >/dev/null && die "$nd is running; stop it first"
	done
	fetch
	rf=$((n < 3 ? n : 3))
	minisr=$((rf > 1 ? 2 : 1))
	for attempt in 1 2 3; do
		rm -rf "$sd"/node[0-9]* "$sd/bootstrap" "$sd/version" "$sd/pid" "$sd/broker.log"
		local -a ports=() cports=() nds=() fmt_pids=()
		voters="" bootstrap=""
		for ((i = 1; i <= n; i++)); do
			free_port
			ports[i]=$PORT
			free_port
			cports[i]=$PORT
			voters+="${voters:+,}$i@127.0.0.1:${cports[i]}"
			bootstrap+="${bootstrap:+,}127.0.0.1:${ports[i]}"
		done
		# Random base64url UUID; Kafka rejects one that starts with "-" (looks like a flag).
		cid=-
		while [[ $cid == -* ]]; do
			cid=$(head -c 16 /dev/urandom | base64 | tr "+/" "-_" | tr -d "=")
		done
		for ((i = 1; i <= n; i++)); do
			nd=$sd/node$i
			nds+=("$nd")
			mkdir -p "$nd/data"
			echo "${ports[i]}" >"$nd/port"
			echo "${cports[i]}" >"$nd/controller_port"
			sed -e "s|@NODE_ID@|$i|" -e "s|@VOTERS@|$voters|" \
				-e "s|@PORT@|${ports[i]}|g" -e "s|@CONTROLLER_PORT@|${cports[i]}|g" \
				-e "s|@DATA_DIR@|$nd/data|" -e "s|@RF@|$rf|" -e "s|@MIN_ISR@|$minisr|" \
				"$KAFKA_DIR/server.properties.tmpl" >"$nd/server.properties"
			if [[ -n ${KAFKA_EXTRA_CONFIG:-} ]]; then
				printf '%s\n' "$KAFKA_EXTRA_CONFIG" >>"$nd/server.properties"
			fi
			# Format all nodes in parallel (one JVM each).
			# shellcheck disable=SC2086
			java $KAFKA_TOOLS_HEAP -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-tools.xml" \
				-cp "$(classpath)" kafka.tools.StorageTool format \
				--config "$nd/server.properties" --cluster-id "$cid" \
				</dev/null >"$nd/format.log" 2>&1 &
			fmt_pids+=($!)
		done
		for ((i = 1; i <= n; i++)); do
			wait "${fmt_pids[i - 1]}" || { cat "$sd/node$i/format.log" >&2; die "storage format failed for $sd/node$i"; }
		done
		echo "$KAFKA_VERSION" >"$sd/version"
		echo "$bootstrap" >"$sd/bootstrap"
		if ((n == 1)); then
			ln -sfn node1/pid "$sd/pid"
			ln -sfn node1/broker.log "$sd/broker.log"
		fi
		for nd in "${nds[@]}"; do
			launch_node "$nd"
		done
		if wait_ready "${nds[@]}"; then
			echo "$bootstrap"
			return 0
		fi
		signal_nodes KILL 10 "${nds[@]}"
		if cat "$sd"/node*/broker.log "$sd"/node*/stdout.log 2>/dev/null | grep -q 'Address already in use'; then
			echo "kafka.sh: port clash, retrying with new ports (attempt $attempt)" >&2
			continue
		fi
		die "cluster in $sd failed to start"
	done
	die "cluster in $sd failed to start (ports kept clashing)"
}

node_dir_arg() { # <statedir> <i>
	local sd
	[[ -d $1 ]] || die "no state dir $1"
	sd=$(cd -- "$1" && pwd)
	[[ $2 =~ ^[1-9][0-9]*$ && -f $sd/node$2/server.properties ]] || die "no node $2 in $sd"
	echo "$sd/node$2"
}

cmd_stop() { # <statedir>
	[[ -d $1 ]] || return 0
	local sd
	sd=$(cd -- "$1" && pwd)
	# shellcheck disable=SC2046
	signal_nodes TERM "$STOP_TIMEOUT" $(node_dirs "$sd")
}

cmd_kill_node() { # <statedir> <i>
	local nd
	nd=$(node_dir_arg "$1" "$2")
	signal_nodes KILL 10 "$nd"
}

cmd_restart_node() { # <statedir> <i>
	local nd sd
	nd=$(node_dir_arg "$1" "$2")
	sd=$(dirname "$nd")
	[[ -f $sd/version ]] && set_version "$(<"$sd/version")"
	node_pid "$nd" >/dev/null && die "node $2 is still running (kill-node or stop it first)"
	fetch
	launch_node "$nd"
	if ! wait_ready "$nd"; then
		signal_nodes KILL 10 "$nd"
		die "node $2 failed to restart"
	fi
	cat "$sd/bootstrap"
}

cmd_status() { # <statedir>
	local sd nd pid
	[[ -d $1 ]] || die "no state dir $1"
	sd=$(cd -- "$1" && pwd)
	for nd in $(node_dirs "$sd"); do
		pid=$(node_pid "$nd") || pid=down
		echo "$(basename "$nd") $pid $(<"$nd/port")"
	done
}

usage() { sed -n '2,/^set -o/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case $cmd in
start | cluster-start | stop | kill-node | restart-node | status)
	# A state directory that is empty or looks like an option is a caller's
	# unset variable or a shifted argument: refuse it rather than create
	# ./-something (or use the working directory).
	[[ $# -ge 1 && -n $1 && $1 != -* ]] || die "$cmd: state directory '${1:-}' is empty or starts with '-' (give a path such as /tmp/k or ./-k)"
	;;
esac
case $cmd in
fetch) fetch; echo "$CACHE" ;;
classpath) fetch; classpath ;;
start) [[ $# -eq 1 ]] || usage; cluster_start "$1" 1 ;;
cluster-start) [[ $# -eq 2 ]] || usage; cluster_start "$1" "$2" ;;
stop) [[ $# -eq 1 ]] || usage; cmd_stop "$1" ;;
kill-node) [[ $# -eq 2 ]] || usage; cmd_kill_node "$1" "$2" ;;
restart-node) [[ $# -eq 2 ]] || usage; cmd_restart_node "$1" "$2" ;;
status) [[ $# -eq 1 ]] || usage; cmd_status "$1" ;;
perf-producer) [[ $# -ge 1 ]] || usage; b=$1; shift; run_tool org.apache.kafka.tools.ProducerPerformance --bootstrap-server "$b" "$@" ;;
perf-consumer) [[ $# -ge 1 ]] || usage; b=$1; shift; run_tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$b" "$@" ;;
topics) [[ $# -ge 1 ]] || usage; b=$1; shift; run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" "$@" ;;
run-class) [[ $# -ge 1 ]] || usage; run_tool "$@" ;;
-h | --help | help) usage ;;
*) usage ;;
esac
