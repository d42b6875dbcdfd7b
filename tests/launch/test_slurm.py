"""launch/*.slurm under a real SLURM on loopback: a token-protected Ray cluster per job, and the judge.

The session fixture starts a private munged, slurmctld and two slurmd (``slurmd -N``: two SLURM nodes on this
machine) from Debian's ``slurmctld slurmd slurm-client munge``, in a temp dir, on free loopback ports, with their
own munge key and socket, so it touches neither /etc/slurm nor a system munged. Every process it starts (daemons,
jobs, Ray) carries a marker in its environment; at the end the fixture cancels the jobs, stops the daemons and
kills anything still marked, also when tests fail. Jobs run with ``--gpus-per-node 0`` (the cluster is complete
when the nodes' CPUs have joined). Without SLURM only the quick checks run (--help, argument errors, shellcheck).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpu_support import vllm_settings
from launch.process import free_port, log_tail
from synthetic.tiny_models import TinyModels

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "launch" / "train.slurm"
SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")
NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "scontrol", "srun")
APT_LINE = "apt-get install -y slurmctld slurmd slurm-client munge"
MARKER = "IAD_SLURM_TEST_SESSION"


def find_tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))


MISSING = [name for name in NEEDED if find_tool(name) is None]


def needs_slurm(test):
    """Slow, and skipped with the reason where SLURM and munge are not installed or we are not root."""
    for mark in (
        pytest.mark.slow,
        pytest.mark.skipif(bool(MISSING), reason=f"SLURM/munge not installed (missing {MISSING}); CI: {APT_LINE}"),
        pytest.mark.skipif(os.geteuid() != 0, reason="slurmd must run as root to start jobs"),
    ):
        test = mark(test)
    return test


def marked_pids(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (a ``NAME=value`` line); not this process."""
    needle = marker.encode() + b"\0"
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        pid = int(environ.parent.name)
        if pid == os.getpid():
            continue
        try:
            data = environ.read_bytes()
            state = (environ.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and (data.startswith(needle) or b"\0" + needle in data):
            pids.append(pid)
    return pids


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class SlurmCluster:
    """A running one-node SLURM; ``env`` is what a user on it would have (SLURM_CONF, site env, marker)."""

    root: Path
    env: dict[str, str]
    marker: str

    def run(
        self, *args: str, timeout: float = 60, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [find_tool(args[0]) or args[0], *args[1:]],
            env=self.env if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{args} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def output(self, job_id: int) -> Path:
        return self.root / "out" / f"iad-train-{job_id}.out"

    def queued(self, job_id: int) -> bool:
        return bool(self.run("squeue", "-h", "-j", str(job_id), check=False).stdout.strip())

    def wait_for_text(self, job_id: int, pattern: str, timeout: float = 120) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output(job_id).read_text(errors="replace") if self.output(job_id).exists() else ""
            if match := re.search(pattern, text, re.MULTILINE):
                return match
            if not self.queued(job_id):
                break
            time.sleep(0.5)
        raise AssertionError(f"no {pattern!r} in job {job_id}'s output:\n{self.tail(job_id)}")

    def wait_gone(self, job_id: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.queued(job_id):
            assert time.monotonic() < deadline, f"job {job_id} still queued after {timeout} s:\n{self.tail(job_id)}"
            time.sleep(0.5)

    def wait_no_processes(self, job_id: int, timeout: float = 15) -> None:
        """Every process with the job's SLURM_JOB_ID in its environment (steps, Ray, the job) has ended."""
        deadline = time.monotonic() + timeout
        while left := marked_pids(f"SLURM_JOB_ID={job_id}"):
            assert time.monotonic() < deadline, f"processes of job {job_id} left after {timeout} s: {left}"
            time.sleep(0.5)

    def tail(self, job_id: int) -> str:
        return log_tail(self.output(job_id), 60)

    def submit(self, *train_args: str) -> int:
        """``launch/train.slurm ARGS`` from the repository root: the script submits itself."""
        result = self.run("bash", str(TRAIN), *train_args)
        match = re.search(r"Submitted batch job (\d+)", result.stdout)
        assert match, result.stdout + result.stderr
        return int(match.group(1))


NODES = ("node1", "node2")


def write_config(root: Path) -> Path:
    """Two SLURM nodes on this machine (one slurmd each, ``slurmd -N``), each with all its CPUs."""
    host = socket.gethostname()
    conf = root / "slurm.conf"
    nodes = "\n".join(
        f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={free_port()} CPUs={os.cpu_count()} State=UNKNOWN"
        for node in NODES
    )
    conf.write_text(
        f"""ClusterName=iadtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool-%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
MinJobAge=5
FirstJobId={random.randrange(1, 900) * 1000 + random.randrange(1, 900)}
{nodes}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "out", *(f"spool-{node}" for node in NODES)):
        (root / sub).mkdir()
    root.chmod(0o700)
    key = root / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)
    conf = write_config(root)
    # The site file of this test cluster: the project's venv first on PATH, run directories in the temp dir.
    site_env = root / "site.env"
    site_env.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\nexport IAD_OUTPUT_ROOT="{root / "out"}"\n')
    marker = f"{MARKER}={uuid.uuid4().hex}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "RAY_"))}
    env = {
        **base,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", ""), *SBIN]),
        "SLURM_CONF": str(conf),
        "IAD_SITE_ENV": str(site_env),
        "SBATCH_OUTPUT": str(root / "out" / "%x-%j.out"),
        "IAD_RAY_STOP_GRACE": "5",
        # Everything is on this machine, whose host name need not resolve (or may resolve to loopback).
        "IAD_RAY_HEAD_IP": "127.0.0.1",
        marker.split("=")[0]: marker.split("=")[1],
    }
    cluster = SlurmCluster(root=root, env=env, marker=marker)
    daemons: list[subprocess.Popen] = []

    def start(*command: str) -> None:
        log = open(root / f"{Path(command[0]).name}-{len(daemons)}.out", "wb")  # noqa: SIM115
        daemons.append(
            subprocess.Popen(
                [find_tool(command[0]), *command[1:]],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        log.close()

    try:
        start(
            "munged",
            "--foreground",
            "--force",
            f"--socket={root}/munge.socket",
            f"--key-file={key}",
            f"--pid-file={root}/munged.pid",
            f"--log-file={root}/munged.log",
            f"--seed-file={root}/munged.seed",
        )
        deadline = time.monotonic() + 10
        while not (root / "munge.socket").exists():
            assert time.monotonic() < deadline, f"munged did not start:\n{log_tail(root / 'munged-0.out')}"
            time.sleep(0.1)
        start("slurmctld", "-D", "-f", str(conf))
        for node in NODES:
            start("slurmd", "-D", "-N", node, "-f", str(conf))
        deadline = time.monotonic() + 30
        while (state := cluster.run("sinfo", "-h", "-o", "%D %T", check=False).stdout.strip()) != f"{len(NODES)} idle":
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"SLURM nodes not idle ({state!r}):\n{log_tail(root / 'slurmctld.log')}\n"
                    + "\n".join(log_tail(root / f"slurmd-{node}.log") for node in NODES)
                )
            time.sleep(0.5)
        yield cluster
    finally:
        if daemons and all(d.poll() is None for d in daemons):
            cluster.run("scancel", "--full", "--user", "root", check=False)
            deadline = time.monotonic() + 30
            while cluster.run("squeue", "-h", check=False).stdout.strip() and time.monotonic() < deadline:
                time.sleep(0.5)
        for daemon in reversed(daemons):  # slurmd, slurmctld, munged
            with_group(daemon, signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                pass
            with_group(daemon, signal.SIGKILL)
            daemon.wait()
        for pid in marked_pids(marker):  # anything of the jobs that escaped
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def with_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def cluster_info(cluster: SlurmCluster, job_id: int) -> tuple[int, int, Path]:
    """GCS port, dashboard port and run dir, from the lines ray_cluster.sh logs at start-up."""
    gcs = cluster.wait_for_text(job_id, r"\(GCS [\d.]+:(\d+)\)")
    dashboard = cluster.wait_for_text(job_id, r"job server http://127\.0\.0\.1:(\d+) .*run dir (\S+)$")
    return int(gcs.group(1)), int(dashboard.group(1)), Path(dashboard.group(2))


@needs_slurm
def test_train_slurm_runs_an_entrypoint_in_the_ray_cluster(slurm: SlurmCluster) -> None:
    """sbatch train.slurm: the entrypoint runs as a Ray job, its task runs on the cluster, the status comes back."""
    code = (
        "import json, os, ray; ray.init(); "
        "print('IAD_RESOURCES', json.dumps(ray.cluster_resources())); "
        "print('IAD_TASK', ray.get(ray.remote(lambda: 6 * 7).remote())); "
        "print('IAD_ENV', os.environ['IAD_RUN_DIR'], os.environ['RAY_AUTH_MODE'])"
    )
    started = time.monotonic()
    result = slurm.run(
        "sbatch", "--wait", "--nodes=1", "--gpus-per-node=0", str(TRAIN),
        "--nodes", "1", "--gpus-per-node", "0", "--entrypoint", f'python -c "{code}" && exit "$1"', "--", "0",
        timeout=240, check=False,
    )  # fmt: skip
    job_id = int(re.search(r"Submitted batch job (\d+)", result.stdout).group(1))
    output = slurm.output(job_id).read_text()
    assert result.returncode == 0, f"sbatch --wait -> {result.returncode}: {result.stderr}\n{slurm.tail(job_id)}"
    resources = json.loads(re.search(r"^IAD_RESOURCES (.*)$", output, re.MULTILINE).group(1))
    assert resources["CPU"] == os.cpu_count()
    assert "GPU" not in resources
    assert re.search(r"^IAD_TASK 42$", output, re.MULTILINE)
    run_dir = re.search(r"^IAD_ENV (\S+) token$", output, re.MULTILINE).group(1)
    assert Path(run_dir).parent == slurm.root / "out" / "slurm"
    assert "Ray job iad-" in output and "SUCCEEDED 0" in output
    assert not (Path(run_dir) / "ray_auth_token").exists(), "the token outlived the job"
    slurm.wait_no_processes(job_id)
    print(f"train.slurm job {job_id}: {time.monotonic() - started:.1f} s")


@needs_slurm
def test_preflight_of_fad_tq_gpg_runs_as_a_slurm_job(
    slurm: SlurmCluster, tiny_models: TinyModels, loco_real_counts: Path, tmp_path: Path
) -> None:
    """The recipe's preflight, submitted with the job's token inside the SLURM-started Ray cluster, passes."""
    from data_prep.build import BuildConfig, build

    build(BuildConfig(protocol="pair3c", roots={"mvtec_loco": loco_real_counts}, out=tmp_path / "data" / "pair3c"))
    env = {
        **slurm.env,
        "IAD_DATA_DIR": str(tmp_path / "data"),
        "IAD_MODEL_PATH": str(tiny_models.policy),
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_OFFLINE": "1",
    }
    result = slurm.run(
        "sbatch", "--wait", "--nodes=1", "--gpus-per-node=0", str(TRAIN),
        "--nodes", "1", "--gpus-per-node", "0", "--recipe", "fad_tq_gpg", "--preflight-only",
        "--", "trainer.n_gpus_per_node=8", "--sample-rows", "4",
        timeout=300, check=False, env=env,
    )  # fmt: skip
    job_id = int(re.search(r"Submitted batch job (\d+)", result.stdout).group(1))
    output = slurm.output(job_id).read_text()
    assert result.returncode == 0, f"sbatch --wait -> {result.returncode}: {result.stderr}\n{slurm.tail(job_id)}"
    for step in ("compose", "registrations", "verl validation", "data", "reward", "judge"):
        assert re.search(rf"^ok\s+{step}", output, re.MULTILINE), slurm.tail(job_id)
    assert "resource plan" in output and "SUCCEEDED 0" in output
    slurm.wait_no_processes(job_id)


@needs_slurm
def test_two_nodes_join_one_token_protected_ray_cluster(slurm: SlurmCluster) -> None:
    """--nodes 2: a head, a worker step on the other node that joins with the job's token, one Ray cluster."""
    code = (
        "import json, ray; ray.init(); "
        "print('IAD_NODES', json.dumps(sorted(n['NodeName'] for n in ray.nodes() if n['Alive']))); "
        "print('IAD_CPUS', ray.cluster_resources()['CPU'])"
    )
    result = slurm.run(
        "sbatch", "--wait", "--nodes=2", "--gpus-per-node=0", str(TRAIN),
        "--nodes", "2", "--gpus-per-node", "0", "--entrypoint", f'python -c "{code}"', timeout=240, check=False,
    )  # fmt: skip
    job_id = int(re.search(r"Submitted batch job (\d+)", result.stdout).group(1))
    assert result.returncode == 0, slurm.tail(job_id)
    output = slurm.output(job_id).read_text()
    assert json.loads(re.search(r"^IAD_NODES (.*)$", output, re.MULTILINE).group(1)) == list(NODES)
    assert float(re.search(r"^IAD_CPUS (\S+)$", output, re.MULTILINE).group(1)) == 2 * os.cpu_count()
    assert re.search(r"head node\d \(GCS .*workers: node\d$", output, re.MULTILINE)
    slurm.wait_no_processes(job_id)


@needs_slurm
def test_the_job_exit_status_is_the_entrypoints(slurm: SlurmCluster) -> None:
    result = slurm.run(
        "sbatch", "--wait", "--gpus-per-node=0", str(TRAIN), "--gpus-per-node", "0", "--entrypoint", "exit 7",
        timeout=240, check=False,
    )  # fmt: skip
    job_id = int(re.search(r"Submitted batch job (\d+)", result.stdout).group(1))
    assert result.returncode == 7, slurm.tail(job_id)
    assert "FAILED 7" in slurm.output(job_id).read_text()


@needs_slurm
def test_a_client_without_the_token_is_refused(slurm: SlurmCluster, tmp_path: Path) -> None:
    """While a job's cluster runs: no token or a wrong one is refused by the GCS and the job server."""
    release = tmp_path / "release"
    job_id = slurm.submit(
        "--nodes", "1", "--gpus-per-node", "0",
        "--entrypoint", f"echo IAD_READY; for i in $(seq 120); do [ -e {release} ] && exit 0; sleep 1; done; exit 3",
    )  # fmt: skip
    try:
        gcs_port, dashboard_port, run_dir = cluster_info(slurm, job_id)
        slurm.wait_for_text(job_id, r"^IAD_READY$")
        token_file = run_dir / "ray_auth_token"
        assert token_file.stat().st_mode & 0o777 == 0o600 and run_dir.stat().st_mode & 0o777 == 0o700
        token = token_file.read_text()
        assert re.fullmatch(r"[0-9a-f]{64}", token)

        home = tmp_path / "home"  # no ~/.ray/auth_token to fall back on
        (home / ".ray").mkdir(parents=True)
        clean = {k: v for k, v in slurm.env.items() if not k.startswith("RAY_")}
        no_token = {**clean, "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}
        wrong = {**no_token, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}
        dashboard = f"http://127.0.0.1:{dashboard_port}"
        submit = ("ray", "job", "submit", "--address", dashboard, "--", "echo", "pwned")
        status = ("ray", "status", "--address", f"127.0.0.1:{gcs_port}")

        refused = slurm.run(*submit, env=no_token, check=False, timeout=120)
        assert refused.returncode != 0 and "Unauthorized: Missing authentication token" in refused.stderr
        refused = slurm.run(*submit, env=wrong, check=False, timeout=120)
        assert refused.returncode != 0 and "Forbidden: Invalid authentication token" in refused.stderr
        for env in (no_token, wrong):
            refused = slurm.run(*status, env=env, check=False, timeout=120)
            assert refused.returncode != 0
            assert "Authentication token is missing or incorrect" in refused.stdout + refused.stderr
        with pytest.raises(urllib.error.HTTPError) as http:
            urllib.request.urlopen(f"{dashboard}/api/jobs/", timeout=10)
        assert http.value.code == 401

        # The job's token works, from the environment, even with a wrong ~/.ray/auth_token around.
        (home / ".ray" / "auth_token").write_text("f" * 64)
        right = {**clean, "HOME": str(home), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
        assert "1 node_" in slurm.run(*status, env=right, timeout=120).stdout
    finally:
        release.touch()
    slurm.wait_gone(job_id)
    assert "SUCCEEDED 0" in slurm.output(job_id).read_text(), slurm.tail(job_id)
    assert "pwned" not in slurm.output(job_id).read_text()


@needs_slurm
def test_scancel_tears_the_ray_cluster_down(slurm: SlurmCluster) -> None:
    job_id = slurm.submit("--nodes", "1", "--gpus-per-node", "0", "--entrypoint", "echo IAD_READY; sleep 600")
    try:
        gcs_port, dashboard_port, run_dir = cluster_info(slurm, job_id)
        slurm.wait_for_text(job_id, r"^IAD_READY$")
        names = set()
        for pid in marked_pids(f"IAD_RAY_NODE_OF_JOB={job_id}"):
            try:
                names.add(Path(f"/proc/{pid}/comm").read_text().strip())
            except OSError:
                pass
        assert {"gcs_server", "raylet"} <= names, names
        assert port_open(gcs_port) and port_open(dashboard_port)
    finally:
        slurm.run("scancel", str(job_id), check=False)
    slurm.wait_gone(job_id, timeout=60)
    slurm.wait_no_processes(job_id)
    assert not port_open(gcs_port) and not port_open(dashboard_port)
    assert not Path(f"/tmp/iad-ray-{job_id}").exists()
    assert not (run_dir / "ray_auth_token").exists()
    assert "SIGTERM: tearing down" in slurm.output(job_id).read_text()


@needs_slurm
def test_judge_slurm_publishes_its_address_while_healthy(slurm: SlurmCluster, tiny_models: TinyModels) -> None:
    """judge.slurm on a CPU node: vLLM comes up, the address file appears, answers, and goes away with the job."""
    address_file = slurm.root / "out" / "judge" / "judge.url"
    port = free_port()
    # The script's #SBATCH defaults ask for a GPU and 8 CPUs: this node has neither.
    result = slurm.run(
        "sbatch", "--gpus-per-node=0", f"--cpus-per-task={os.cpu_count()}", str(REPO / "launch" / "judge.slurm"),
        "--model", str(tiny_models.judge), "--port", str(port), "--address-file", str(address_file),
        "--health-timeout", "180", "--", *vllm_settings.SERVER_ARGS,
        env={**slurm.env, **vllm_settings.ENV},
    )  # fmt: skip
    job_id = int(re.search(r"Submitted batch job (\d+)", result.stdout).group(1))
    output = slurm.root / "out" / f"iad-judge-{job_id}.out"
    try:
        started, deadline = time.monotonic(), time.monotonic() + 200
        while not address_file.exists():
            state = slurm.run("squeue", "-h", "-j", str(job_id), "-o", "%T %r", check=False).stdout.strip()
            assert state, f"the judge job ended:\n{log_tail(output, 60)}"
            assert not (state.startswith("PENDING") and time.monotonic() > started + 30), f"judge job {state}"
            assert time.monotonic() < deadline, f"no address file:\n{log_tail(output, 60)}"
            time.sleep(1)
        url = address_file.read_text().strip()
        assert re.fullmatch(rf"http://({'|'.join(NODES)}):{port}/v1", url), url  # http://<node>:<port>/v1
        local = url.replace(url.split("/")[2].split(":")[0], "127.0.0.1", 1)
        with urllib.request.urlopen(f"{local}/models", timeout=30) as response:
            assert json.load(response)["data"][0]["id"] == "judge"
    finally:
        slurm.run("scancel", str(job_id), check=False)
    slurm.wait_gone(job_id, timeout=60)
    slurm.wait_no_processes(job_id)
    assert not address_file.exists(), "the address of a stopped judge is still published"
    assert not port_open(port)


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """A launch script outside any SLURM job, without submitting (only --help and argument errors)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run(
        ["bash", str(REPO / "launch" / name), *args], capture_output=True, text=True, timeout=30, env=env
    )


@pytest.mark.parametrize("name", ["train.slurm", "judge.slurm"])
def test_scripts_have_help(name: str) -> None:
    result = run_script(name, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout and "--address-file" in result.stdout


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("train.slurm", ["--recipe", "x", "--bogus"], "unknown option '--bogus'"),
        ("train.slurm", ["--nodes", "2"], "give --recipe NAME"),
        ("train.slurm", ["--recipe", "x", "--nodes", "two"], "'two' is not a number"),
        ("judge.slurm", ["--address-file", "f"], "--model is required"),
        ("judge.slurm", ["--model", "m"], "--address-file is required"),
    ],
)
def test_argument_errors_stop_before_submitting(name: str, args: list[str], message: str) -> None:
    result = run_script(name, *args)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.parametrize("name", ["train.slurm", "judge.slurm"])
def test_a_wrong_repository_root_stops_before_submitting(name: str, tmp_path: Path) -> None:
    """IAD_ROOT pointing elsewhere: a message that says how to fix it, not a failed `source`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")} | {"IAD_ROOT": str(tmp_path)}
    args = ["--recipe", "x"] if name == "train.slurm" else ["--model", "m", "--address-file", "f"]
    result = subprocess.run(
        ["bash", str(REPO / "launch" / name), *args], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.returncode == 2 and f"{tmp_path} is not the repository" in result.stderr
    assert "set IAD_ROOT" in result.stderr


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not installed (apt-get install -y shellcheck)"
)
def test_shellcheck_is_clean() -> None:
    scripts = sorted(map(str, [*REPO.glob("launch/*.sh"), *REPO.glob("launch/*.slurm")]))
    result = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
