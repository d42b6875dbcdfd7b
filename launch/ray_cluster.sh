# shellcheck shell=bash
# A Ray cluster on a SLURM allocation, private to one job: per-job token, dashboard on the head's loopback.
#
# Sourced by batch scripts (launch/train.slurm):
#
#   source launch/ray_cluster.sh
#   ray_cluster_setup              # nodes, ports, private run dir, token; traps EXIT/INT/TERM to tear down
#   ray_cluster_start              # head on this (the batch) node, one worker per other node
#   ray_cluster_wait               # until every node and every GPU (CPU with 0 GPUs per node) has joined
#   ray_cluster_submit CMD [ARG…]  # `ray job submit`, streams the logs, returns the job's exit status
#
# The same file, executed by srun on each node, starts or cleans up that node:
#   bash launch/ray_cluster.sh node head|worker     bash launch/ray_cluster.sh cleanup
#
# Security model. Ray executes whatever a client that reaches its ports asks for, and the GCS listens on all
# interfaces whatever --node-ip-address says. Each job therefore makes its own random token (Ray token
# authentication, RAY_AUTH_MODE=token): the GCS, raylets and the job server refuse clients without it. The
# token travels to the steps in the environment (srun copies it; no shared file system needed) and is kept in
# a mode-600 file in the job's mode-700 run directory for attaching by hand; it is removed at teardown. The
# dashboard and job server listen on the head's 127.0.0.1 only, so only processes on the head node can reach
# them at all. Tokens are not encryption: Ray's traffic is plain text on the cluster network.
#
# Settings (environment; put site values in launch/site.env):
#   IAD_GPUS_PER_NODE      GPUs Ray must see on each node (default: SLURM_GPUS_ON_NODE, else 0)
#   IAD_CPUS_PER_NODE      CPUs given to Ray on each node (default: SLURM_CPUS_ON_NODE)
#   IAD_OUTPUT_ROOT        where run directories go (default: outputs)
#   IAD_RUN_DIR            this job's private directory (default: $IAD_OUTPUT_ROOT/slurm/<job name>-<job id>)
#   IAD_RAY_PORT           GCS port on the head; +1 the dashboard / job server, +2 Ray Client (default: 20000 +
#                          10 × (job id mod 1000): outside Ray's worker ports 10002-19999 and the ephemeral range,
#                          and different for jobs sharing a node). Other ports are Ray's free-port choice.
#   IAD_RAY_DASHBOARD_HOST dashboard / job server bind address (default: 127.0.0.1)
#   IAD_RAY_IFACE          network interface whose IPv4 address Ray uses on every node (default: Ray's choice;
#                          the head's address comes from its host name)
#   IAD_RAY_HEAD_IP        the address workers use to reach the head's GCS (default: from IAD_RAY_IFACE or the
#                          head's host name; a loopback address is refused for multi-node jobs unless given here)
#   IAD_RAY_TMPDIR         node-local parent of Ray's temp dir; keep it short (default: /tmp)
#   IAD_RAY_JOIN_TIMEOUT   seconds to wait for every node to join (default: 600)
#   IAD_RAY_STOP_GRACE     seconds Ray gets to stop on SIGTERM before it is killed (default: 10)
#   IAD_RAY_STOP_ALL=1     also run `ray stop --force` on every node: it ends ALL of your Ray processes on those
#                          nodes, other jobs' included, so only for exclusive nodes (default: 0)

RAY_CLUSTER_LIB=$(readlink -f "${BASH_SOURCE[0]}")

ray_cluster_log() { printf '[ray_cluster %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
ray_cluster_die() {
    ray_cluster_log "error: $*"
    exit 1
}

# The IPv4 address Ray should use on this node ("" lets Ray choose).
ray_cluster_node_ip() {
    if [[ -n ${IAD_RAY_IFACE:-} ]]; then
        ip -4 -o addr show dev "$IAD_RAY_IFACE" | awk '{sub(/\/.*/, "", $4); print $4; exit}'
    elif [[ ${1:-} == head ]]; then
        getent ahostsv4 "$(hostname)" | awk '{print $1; exit}'
    fi
}

# Nodes, ports, run dir and token; exports what the srun steps and the job need. Call once, in the batch step.
ray_cluster_setup() {
    [[ -n ${SLURM_JOB_ID:-} ]] || ray_cluster_die "not inside a SLURM job (submit with sbatch)"
    command -v ray >/dev/null || ray_cluster_die "no 'ray' on PATH: activate the environment in launch/site.env"

    mapfile -t RAY_CLUSTER_NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
    ((${#RAY_CLUSTER_NODES[@]} > 0)) || ray_cluster_die "no nodes in SLURM_JOB_NODELIST='${SLURM_JOB_NODELIST:-}'"
    # The head is the batch node: the job server on its loopback is then reachable from this script.
    RAY_CLUSTER_HEAD=${SLURMD_NODENAME:-$(hostname -s)}
    RAY_CLUSTER_WORKERS=()
    local node found=0
    for node in "${RAY_CLUSTER_NODES[@]}"; do
        if [[ $node == "$RAY_CLUSTER_HEAD" ]]; then found=1; else RAY_CLUSTER_WORKERS+=("$node"); fi
    done
    ((found)) || ray_cluster_die "this node ($RAY_CLUSTER_HEAD) is not in the allocation (${RAY_CLUSTER_NODES[*]}): run from sbatch"

    export IAD_GPUS_PER_NODE=${IAD_GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-0}}
    export IAD_CPUS_PER_NODE=${IAD_CPUS_PER_NODE:-${SLURM_CPUS_ON_NODE:-1}}
    export IAD_RAY_PORT=${IAD_RAY_PORT:-$((20000 + 10 * (SLURM_JOB_ID % 1000)))}
    export IAD_RAY_DASHBOARD_HOST=${IAD_RAY_DASHBOARD_HOST:-127.0.0.1}
    export IAD_RAY_TMP="${IAD_RAY_TMPDIR:-/tmp}/iad-ray-$SLURM_JOB_ID"
    if ((IAD_RAY_PORT < 20000 || IAD_RAY_PORT > 32765)); then
        ray_cluster_die "IAD_RAY_PORT=$IAD_RAY_PORT: use 20000-32765 (Ray's workers use 10002-19999; 32768+ is ephemeral)"
    fi
    RAY_CLUSTER_HEAD_IP=${IAD_RAY_HEAD_IP:-$(ray_cluster_node_ip head)}
    [[ -n $RAY_CLUSTER_HEAD_IP ]] || ray_cluster_die "no IPv4 address for $(hostname): set IAD_RAY_IFACE in site.env"
    if [[ -z ${IAD_RAY_HEAD_IP:-} && $RAY_CLUSTER_HEAD_IP == 127.* ]] && ((${#RAY_CLUSTER_WORKERS[@]} > 0)); then
        ray_cluster_die "$(hostname) resolves to $RAY_CLUSTER_HEAD_IP, which other nodes cannot reach: set IAD_RAY_IFACE in site.env"
    fi
    export IAD_RAY_HEAD_IP=$RAY_CLUSTER_HEAD_IP
    export IAD_RAY_GCS_ADDRESS="$RAY_CLUSTER_HEAD_IP:$IAD_RAY_PORT"
    local client_host=$IAD_RAY_DASHBOARD_HOST
    [[ $client_host == 0.0.0.0 ]] && client_host=127.0.0.1
    export IAD_RAY_DASHBOARD_URL="http://$client_host:$((IAD_RAY_PORT + 1))"

    export IAD_RUN_DIR=${IAD_RUN_DIR:-${IAD_OUTPUT_ROOT:-outputs}/slurm/${SLURM_JOB_NAME:-job}-$SLURM_JOB_ID}
    mkdir -p "$IAD_RUN_DIR"
    IAD_RUN_DIR=$(readlink -f "$IAD_RUN_DIR")
    chmod 700 "$IAD_RUN_DIR"

    # The token: 256 random bits, in a mode-600 file, and in the environment of every step and the job.
    RAY_CLUSTER_TOKEN_FILE="$IAD_RUN_DIR/ray_auth_token"
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$RAY_CLUSTER_TOKEN_FILE")
    [[ $(wc -c <"$RAY_CLUSTER_TOKEN_FILE") -eq 64 ]] || ray_cluster_die "could not write $RAY_CLUSTER_TOKEN_FILE"
    export RAY_AUTH_MODE=token
    RAY_AUTH_TOKEN=$(<"$RAY_CLUSTER_TOKEN_FILE")
    export RAY_AUTH_TOKEN
    unset RAY_AUTH_TOKEN_PATH RAY_ADDRESS RAY_API_SERVER_ADDRESS
    export RAY_USAGE_STATS_ENABLED=0

    RAY_CLUSTER_PIDS=()
    RAY_CLUSTER_TORN_DOWN=0
    trap 'ray_cluster_teardown' EXIT
    # On a signal (scancel, time limit) SLURM kills every step after KillWait anyway: be quick.
    trap 'ray_cluster_log "SIGTERM: tearing down"; ray_cluster_teardown 2; exit 143' TERM
    trap 'ray_cluster_log "SIGINT: tearing down"; ray_cluster_teardown 2; exit 130' INT

    ray_cluster_log "job $SLURM_JOB_ID: head $RAY_CLUSTER_HEAD (GCS $IAD_RAY_GCS_ADDRESS), workers: ${RAY_CLUSTER_WORKERS[*]:-none}"
    ray_cluster_log "dashboard/job server $IAD_RAY_DASHBOARD_URL (on $RAY_CLUSTER_HEAD), run dir $IAD_RUN_DIR"
}

# Options of the Ray steps: one task per node with all the node's CPUs and memory of the job (a step gets all
# the job's GPUs by default), sharing them with other steps (--overlap), so that clean-up steps can still run.
RAY_CLUSTER_SRUN_OPTS=(--overlap --ntasks-per-node=1 --mem=0 --kill-on-bad-exit=0)

ray_cluster_start() {
    local opts=("${RAY_CLUSTER_SRUN_OPTS[@]}" --cpus-per-task="$IAD_CPUS_PER_NODE")
    srun "${opts[@]}" --nodes=1 --ntasks=1 -w "$RAY_CLUSTER_HEAD" --job-name=ray-head \
        bash "$RAY_CLUSTER_LIB" node head >"$IAD_RUN_DIR/ray-head.log" 2>&1 &
    RAY_CLUSTER_PIDS+=($!)
    local n=${#RAY_CLUSTER_WORKERS[@]}
    if ((n > 0)); then
        # Workers give up on a GCS that does not answer within a minute or so: start them once the head is up.
        ray_cluster_wait "${IAD_RAY_JOIN_TIMEOUT:-600}" "$RAY_CLUSTER_HEAD"
        local workers
        workers=$(IFS=,; echo "${RAY_CLUSTER_WORKERS[*]}")
        srun "${opts[@]}" --nodes="$n" --ntasks="$n" -w "$workers" --job-name=ray-workers \
            bash "$RAY_CLUSTER_LIB" node worker >"$IAD_RUN_DIR/ray-workers.log" 2>&1 &
        RAY_CLUSTER_PIDS+=($!)
    fi
    ray_cluster_log "started head (log $IAD_RUN_DIR/ray-head.log) and $n worker(s)"
}

# ray_cluster_wait [TIMEOUT [NODE…]]: blocks until the nodes (default: all) are ALIVE in Ray with the expected GPUs
# (CPUs with 0 GPUs per node); fails naming the nodes that are missing, with the tails of the Ray logs.
ray_cluster_wait() {
    local timeout=${1:-${IAD_RAY_JOIN_TIMEOUT:-600}}
    shift || true
    local nodes=("$@")
    ((${#nodes[@]})) || nodes=("${RAY_CLUSTER_NODES[@]}")
    local resource=GPU per_node=$IAD_GPUS_PER_NODE
    if ((per_node == 0)); then resource=CPU per_node=$IAD_CPUS_PER_NODE; fi
    local pids
    pids=$(IFS=,; echo "${RAY_CLUSTER_PIDS[*]}")
    python - "$timeout" "$resource" "$per_node" "$pids" "${nodes[@]}" <<'PY' ||
import os, sys, time
from ray.util.state import list_nodes

timeout, resource, per_node = float(sys.argv[1]), sys.argv[2], float(sys.argv[3])
steps = [int(pid) for pid in sys.argv[4].split(",") if pid]  # the srun steps of the head and the workers
expected = sys.argv[5:]
address = os.environ["IAD_RAY_DASHBOARD_URL"]
deadline, joined, last_error = time.monotonic() + timeout, {}, None
while time.monotonic() < deadline:
    for pid in steps:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(f"a Ray step ({'head' if pid == steps[0] else 'workers'}) exited; last error: {last_error}")
    try:
        nodes = list_nodes(address=address, filters=[("state", "=", "ALIVE")], detail=True, raise_on_missing_output=False)
        joined = {n.node_name: n.resources_total.get(resource, 0.0) for n in nodes}
        last_error = None
    except Exception as error:  # job server not up yet
        last_error = f"{type(error).__name__}: {str(error)[:300]}"
    missing = [node for node in expected if joined.get(node, 0.0) < per_node]
    if not missing:
        total = sum(joined[node] for node in expected)
        print(f"[ray_cluster] {' '.join(expected)} joined: {total:g} {resource}", file=sys.stderr)
        sys.exit(0)
    time.sleep(2)
short = {node: joined[node] for node in expected if node in joined and joined[node] < per_node}
sys.exit(
    f"after {timeout:.0f} s, {len(missing)} of {len(expected)} node(s) missing: {' '.join(missing)}"
    f" (want {per_node:g} {resource} each; joined with fewer: {short or 'none'}; last error: {last_error})"
)
PY
        {
            ray_cluster_log "--- tail of $IAD_RUN_DIR/ray-head.log"
            tail -n 20 "$IAD_RUN_DIR/ray-head.log" >&2
            if [[ -f $IAD_RUN_DIR/ray-workers.log ]]; then
                ray_cluster_log "--- tail of $IAD_RUN_DIR/ray-workers.log"
                tail -n 20 "$IAD_RUN_DIR/ray-workers.log" >&2
            fi
            ray_cluster_die "the Ray cluster did not come up"
        }
}

# ray_cluster_submit WORKING_DIR RUNTIME_ENV_JSON CMD [ARG…]: runs CMD as a Ray job, streams its logs, returns
# its exit status (the driver's exit code; 1 when Ray has none, e.g. the job was stopped).
ray_cluster_submit() {
    local working_dir=$1 runtime_env=$2
    shift 2
    local id address=$IAD_RAY_DASHBOARD_URL
    id="iad-$SLURM_JOB_ID-$(date +%s)"
    ray job submit --address "$address" --submission-id "$id" --no-wait \
        --working-dir "$working_dir" --runtime-env-json "$runtime_env" -- "$@" >&2 ||
        ray_cluster_die "ray job submit failed"
    ray_cluster_log "submitted Ray job $id; streaming its logs"
    # In the background, so that SIGTERM (scancel) reaches the trap at once.
    ray job logs --address "$address" --follow "$id" &
    wait $! || true
    local result
    result=$(python - "$address" "$id" <<'PY'
import sys, time
from ray.job_submission import JobSubmissionClient

client, deadline = JobSubmissionClient(sys.argv[1]), time.monotonic() + 60
info = client.get_job_info(sys.argv[2])
while not info.status.is_terminal() and time.monotonic() < deadline:
    time.sleep(1)
    info = client.get_job_info(sys.argv[2])
code = info.driver_exit_code or 0
if info.status.value != "SUCCEEDED" and code == 0:
    code = 1  # failed or stopped without a driver exit code
print(info.status.value, code, (info.message or "").split("\n")[0][:200])
PY
    ) || result="UNKNOWN 1 could not read the job's status"
    ray_cluster_log "Ray job $id: $result"
    local code
    read -r _ code _ <<<"$result"
    [[ $code =~ ^[0-9]+$ ]] || code=1
    return "$code"
}

# Kills this node's processes of this job's Ray (marked in their environment by `node`), removes its temp dir.
ray_cluster_cleanup_node() {
    local marker="IAD_RAY_NODE_OF_JOB=${SLURM_JOB_ID:?}" file pid pids=()
    while IFS= read -r file; do
        pid=${file#/proc/}
        pid=${pid%/environ}
        [[ $pid != "$$" && $pid != "$BASHPID" ]] && pids+=("$pid")
    done < <(grep -lzxF "$marker" /proc/[0-9]*/environ 2>/dev/null)
    ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
    if [[ ${IAD_RAY_STOP_ALL:-0} == 1 ]]; then
        timeout 60 ray stop --force >/dev/null 2>&1 || true
    fi
    [[ -n ${IAD_RAY_TMP:-} ]] && rm -rf "$IAD_RAY_TMP"
    return 0
}

ray_cluster_alive_pids() {
    local pid alive=()
    for pid in "${RAY_CLUSTER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    echo "${alive[*]}"
}

# ray_cluster_teardown [GRACE]: stops the cluster: SIGTERM to the head and worker steps, then (after GRACE s,
# default IAD_RAY_STOP_GRACE) a clean-up on every node that kills what is left. Safe to call twice and on a
# half-started cluster.
ray_cluster_teardown() {
    ((${RAY_CLUSTER_TORN_DOWN:-1} == 0)) || return 0
    RAY_CLUSTER_TORN_DOWN=1
    trap - EXIT INT TERM
    set +e
    local alive deadline=$((SECONDS + ${1:-${IAD_RAY_STOP_GRACE:-10}}))
    alive=$(ray_cluster_alive_pids)
    if [[ -n $alive ]]; then
        ray_cluster_log "stopping Ray (steps: $alive)"
        # shellcheck disable=SC2086  # a list of pids
        kill -TERM $alive 2>/dev/null
        while [[ -n $(ray_cluster_alive_pids) ]] && ((SECONDS < deadline)); do sleep 1; done
    fi
    # Other nodes: a short clean-up step (refused when the job itself is being cancelled, when SLURM's own
    # kill of every step does the work). This node: directly.
    local n=${#RAY_CLUSTER_WORKERS[@]}
    if ((n > 0)); then
        local workers
        workers=$(IFS=,; echo "${RAY_CLUSTER_WORKERS[*]}")
        timeout 60 srun --overlap --nodes="$n" --ntasks="$n" --ntasks-per-node=1 -w "$workers" \
            --job-name=ray-cleanup bash "$RAY_CLUSTER_LIB" cleanup >/dev/null 2>&1
    fi
    ray_cluster_cleanup_node
    alive=$(ray_cluster_alive_pids)
    # shellcheck disable=SC2086
    [[ -n $alive ]] && kill -KILL $alive 2>/dev/null
    for alive in "${RAY_CLUSTER_PIDS[@]}"; do wait "$alive" 2>/dev/null; done
    rm -f "${RAY_CLUSTER_TOKEN_FILE:-/nonexistent}"
    ray_cluster_log "Ray stopped"
    return 0
}

# Runs on a node under srun: `ray start --block` as head or worker, marked so that clean-up finds its processes.
ray_cluster_node() {
    local role=$1 ip
    local node_name=${SLURMD_NODENAME:-$(hostname -s)}
    mkdir -p "$IAD_RAY_TMP" && chmod 700 "$IAD_RAY_TMP"
    local args=(--block --disable-usage-stats --temp-dir="$IAD_RAY_TMP" --node-name="$node_name"
        --num-cpus="$IAD_CPUS_PER_NODE")
    # With GPUs Ray counts what SLURM made visible (CUDA_VISIBLE_DEVICES): the wait then checks the allocation.
    ((IAD_GPUS_PER_NODE == 0)) && args+=(--num-gpus=0)
    # Per-node ports are Ray's free-port choice; 0 replaces the agent's fixed default (52365), which two Ray
    # nodes on one machine (another job's, on shared nodes) would both want.
    args+=(--dashboard-agent-listen-port=0)
    local p=$IAD_RAY_PORT
    export IAD_RAY_NODE_OF_JOB=$SLURM_JOB_ID
    case $role in
    head)
        ip=$IAD_RAY_HEAD_IP
        exec ray start --head --node-ip-address="$ip" --port="$p" --ray-client-server-port=$((p + 2)) \
            --dashboard-host="$IAD_RAY_DASHBOARD_HOST" --dashboard-port=$((p + 1)) "${args[@]}"
        ;;
    worker)
        ip=$(ray_cluster_node_ip worker)
        [[ -n $ip ]] && args+=(--node-ip-address="$ip")
        exec ray start --address="$IAD_RAY_GCS_ADDRESS" "${args[@]}"
        ;;
    *) ray_cluster_die "unknown role '$role'" ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    case ${1:-} in
    node) ray_cluster_node "${2:?head or worker}" ;;
    cleanup) ray_cluster_cleanup_node ;;
    *)
        echo "usage: bash ${0##*/} node head|worker | cleanup   (run by srun; source this file in batch scripts)" >&2
        exit 2
        ;;
    esac
fi
