"""Deployment files: the scheduler is never open, and the TLS setup really works.

The end-to-end test starts a real ``dask scheduler`` and ``dask worker`` pair over mutual
TLS on 127.0.0.1 with certificates from ``deploy/tls/make-certs.sh`` (the settings in
``deploy/tls/dask-tls.env``), trains through it with ``svi-lda train`` and checks that a
client without the certificates is refused. The processes also run with
``deploy/dask-svi.env``, the Dask settings for svi-lda's workload.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from svi_lda import load
from svi_lda.corpus import from_csr
from svi_lda.synthetic import make_lda_corpus

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {k: v for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("#")}


def test_tls_settings_require_encryption_for_every_role() -> None:
    env = _env_file(DEPLOY / "tls" / "dask-tls.env")
    assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    for role in ("SCHEDULER", "WORKER", "CLIENT"):
        assert env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"].endswith(".pem")
        assert env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__KEY"].endswith(".pem")


def test_compose_keeps_dask_on_an_internal_network() -> None:
    spec = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    assert spec["networks"]["dask"]["internal"] is True
    for name, service in spec["services"].items():
        assert "dask" in service["networks"], name
        assert service["env_file"] == ["../tls/dask-tls.env", "../dask-svi.env"], name
        for port in service.get("ports", []):
            # Anything published is bound to the host's loopback interface only.
            assert str(port).startswith("127.0.0.1:"), (name, port)
            assert not str(port).endswith(":8786"), "the scheduler port is never published"
        command = " ".join(service["command"])
        if "scheduler" in command.split()[:2]:
            assert "--protocol tls" in command
        if "tcp://" in command:
            pytest.fail(f"{name} talks plain tcp: {command}")


def _k8s_docs(name: str) -> list[dict]:
    return list(yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()))


def _config_maps() -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["data"] for d in _k8s_docs("config.yaml")}


def _assert_fenced(cluster_name: str, cluster_spec: dict, pods: list[dict], policy: dict) -> None:
    """ClusterIP scheduler; every pod reads both ConfigMaps; only the cluster's pods get in."""
    assert cluster_spec["scheduler"]["service"]["type"] == "ClusterIP"
    for pod in pods:
        for container in pod["containers"]:
            refs = [e["configMapRef"]["name"] for e in container["envFrom"]]
            assert refs == ["svi-lda-dask-tls", "svi-lda-dask-tuning"], container["name"]
            assert "tcp://" not in " ".join(container["args"]), container["name"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["podSelector"]["matchLabels"]["dask.org/cluster-name"] == cluster_name
    assert policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {
        "dask.org/cluster-name": cluster_name
    }


def test_kubernetes_scheduler_is_cluster_internal_and_fenced() -> None:
    assert _config_maps()["svi-lda-dask-tls"]["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == (
        "True"
    )
    kinds = {d["kind"]: d for d in _k8s_docs("daskjob.yaml")}
    job = kinds["DaskJob"]
    cluster = job["spec"]["cluster"]["spec"]
    pods = [job["spec"]["job"]["spec"], cluster["worker"]["spec"], cluster["scheduler"]["spec"]]
    _assert_fenced(job["metadata"]["name"], cluster, pods, kinds["NetworkPolicy"]["spec"])


def test_kubernetes_streamer_is_one_pod_inside_the_fence() -> None:
    kinds = {d["kind"]: d for d in _k8s_docs("stream.yaml")}
    dask_cluster = kinds["DaskCluster"]
    name = dask_cluster["metadata"]["name"]
    streamer = kinds["Deployment"]["spec"]
    # Two streamers on one model folder would each consume the same files.
    assert streamer["replicas"] == 1 and streamer["strategy"]["type"] == "Recreate"
    assert streamer["template"]["metadata"]["labels"]["dask.org/cluster-name"] == name
    pods = [streamer["template"]["spec"], dask_cluster["spec"]["worker"]["spec"],
            dask_cluster["spec"]["scheduler"]["spec"]]
    _assert_fenced(name, dask_cluster["spec"], pods, kinds["NetworkPolicy"]["spec"])
    args = streamer["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["svi-lda", "stream"]
    assert args[args.index("--scheduler") + 1] == f"tls://{name}-scheduler:8786"


def _crd_schema(kind: str) -> dict:
    """The openAPIV3Schema of a dask-kubernetes custom resource, from the operator's CRD."""
    import importlib.resources

    crds = importlib.resources.files("dask_kubernetes").joinpath(
        "operator/deployment/helm/dask-kubernetes-operator/crds"
    )
    crd = yaml.safe_load(crds.joinpath(f"{kind.lower()}.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def _pod_specs(doc: dict) -> list[dict]:
    spec = doc["spec"]
    cluster = spec["cluster"]["spec"] if doc["kind"] == "DaskJob" else spec
    pods = [cluster["worker"]["spec"], cluster["scheduler"]["spec"]]
    if doc["kind"] == "DaskJob":
        pods.append(spec["job"]["spec"])
    return pods


@pytest.mark.parametrize("name", ["config.yaml", "daskjob.yaml", "stream.yaml"])
def test_kubernetes_manifests_validate_against_their_schemas(name: str) -> None:
    """Offline: Kubernetes' own schemas (kubernetes-validate, strict: no unknown fields)
    for built-in kinds and for every pod inside the Dask resources, and the dask-kubernetes
    operator's CRD schemas for DaskJob and DaskCluster."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("dask_kubernetes")
    version = kubernetes_validate.latest_version()
    for doc in _k8s_docs(name):
        if doc["apiVersion"].startswith("kubernetes.dask.org/"):
            jsonschema.validate(doc, _crd_schema(doc["kind"]))
            for pod in _pod_specs(doc):
                kubernetes_validate.validate(
                    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                     "spec": pod},
                    version, strict=True,
                )
        else:
            kubernetes_validate.validate(doc, version, strict=True)


def test_compose_file_validates_against_the_compose_spec() -> None:
    pytest.importorskip("check_jsonschema")
    run = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(DEPLOY / "compose" / "docker-compose.yml")],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _as_dask_config(env: dict[str, str]) -> dict[str, object]:
    """What Dask makes of ``DASK_*`` variables, flattened to dotted keys."""
    import dask.config

    flat: dict[str, object] = {}

    def walk(prefix: str, node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        else:
            flat[prefix.replace("_", "-")] = node

    walk("", dask.config.collect_env(env))
    return flat


def test_deploy_dask_settings_are_the_local_clusters() -> None:
    """deploy/dask-svi.env and the Kubernetes ConfigMap give users' own Dask processes
    the settings ``local_cluster`` applies (CLUSTER_CONFIG), as Dask itself reads them."""
    from svi_lda.distributed.cluster import CLUSTER_CONFIG

    expected = {k.replace("_", "-"): v for k, v in CLUSTER_CONFIG.items()}
    env_file = _env_file(DEPLOY / "dask-svi.env")
    assert _as_dask_config(env_file) == expected
    tuning = _config_maps()["svi-lda-dask-tuning"]
    assert _as_dask_config({k: str(v) for k, v in tuning.items()}) == expected


def _tls_probe(host: str, port: int, certs: Path, *, with_cert: bool) -> str:
    """Open a raw TLS connection and say whether the server let the session start."""
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if with_cert:
        context.load_cert_chain(str(certs / "dask.pem"), str(certs / "dask-key.pem"))
    with socket.create_connection((host, port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=host) as conn:
                conn.settimeout(5)
                # TLS 1.3 reports a refused client certificate on the first read.
                return "accepted" if conn.recv(1) else "refused"
        except (ssl.SSLError, ConnectionError):
            return "refused"


def _wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before writing {path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not written within {timeout} s")
        time.sleep(0.2)


@pytest.mark.distributed
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_train_through_a_tls_scheduler_worker_pair_on_loopback(tmp_path: Path) -> None:
    certs = tmp_path / "tls"
    subprocess.run(
        ["bash", str(DEPLOY / "tls" / "make-certs.sh"), str(certs)], check=True, timeout=60
    )
    # The folder copied to the nodes holds no CA private key; it is kept apart.
    assert sorted(p.name for p in certs.iterdir()) == ["ca.pem", "dask-key.pem", "dask.pem"]
    assert (tmp_path / "tls.ca" / "ca-key.pem").is_file()
    tls_env = {
        k: v.replace("/etc/dask/tls", str(certs))
        for k, v in _env_file(DEPLOY / "tls" / "dask-tls.env").items()
    }
    env = {**os.environ, **tls_env, **_env_file(DEPLOY / "dask-svi.env"),
           "NUMBA_NUM_THREADS": "1"}
    bin_dir = Path(sys.executable).parent
    sched_file = tmp_path / "scheduler.json"
    synthetic = make_lda_corpus(300, 200, 4, doc_length=40, seed=3)
    from_csr(synthetic.X, [f"w{i}" for i in range(200)], tmp_path / "corpus", row_group_size=50)

    procs = []
    try:
        scheduler = subprocess.Popen(
            [str(bin_dir / "dask"), "scheduler", "--protocol", "tls", "--host", "127.0.0.1",
             "--port", "0", "--dashboard-address", "127.0.0.1:0",
             "--scheduler-file", str(sched_file)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        procs.append(scheduler)
        _wait_for_file(sched_file, scheduler)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        worker = subprocess.Popen(
            [str(bin_dir / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
             "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        procs.append(worker)

        train = subprocess.run(
            [str(bin_dir / "svi-lda"), "train", str(tmp_path / "corpus"), "--topics", "4",
             "--epochs", "2", "--batch-size", "100", "--out", str(tmp_path / "model"),
             "--scheduler", str(sched_file), "--timeout", "60"],
            env=env, capture_output=True, text=True, timeout=240,
        )
        assert train.returncode == 0, train.stdout + train.stderr
        model = load(tmp_path / "model")
        assert model.n_batch_iter_ == 6  # 300 docs / 100 per step x 2 epochs
        theta = model.transform(synthetic.X[:5])
        np.testing.assert_allclose(theta.sum(axis=1), 1.0)

        # The scheduler itself refuses a peer that trusts the CA but has no certificate,
        # and accepts one that has it.
        host, port = address.removeprefix("tls://").rsplit(":", 1)
        assert _tls_probe(host, int(port), certs, with_cert=False) == "refused"
        assert _tls_probe(host, int(port), certs, with_cert=True) == "accepted"
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _tls_env(certs: Path) -> dict[str, str]:
    """The TLS settings of deploy/tls/dask-tls.env, pointing at ``certs``."""
    return {
        k: v.replace("/etc/dask/tls", str(certs))
        for k, v in _env_file(DEPLOY / "tls" / "dask-tls.env").items()
    }


def _svi_lda(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


def test_slurm_launcher_refuses_to_start_without_tls(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_DISTRIBUTED__COMM")}
    run = subprocess.run(
        _svi_lda("slurm", "--interface", "lo", "--jobs", "0", "--job-script-out",
                 str(tmp_path / "job.sh"), "train", "corpus", "--topics", "2", "--out", "m"),
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2
    assert "mutual TLS is not configured" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "job.sh").exists()


@pytest.mark.distributed
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_slurm_job_script_starts_a_tls_worker_that_trains(tmp_path: Path) -> None:
    """The launcher's worker job script is what SLURM would run on a compute node; here
    it runs under bash on this machine (no SLURM controller), joins the launcher's TLS
    scheduler on loopback, and ``train`` completes through it."""
    pytest.importorskip("dask_jobqueue")
    certs = tmp_path / "tls"
    subprocess.run(
        ["bash", str(DEPLOY / "tls" / "make-certs.sh"), str(certs)], check=True, timeout=60
    )
    env = {**os.environ, **_tls_env(certs), "NUMBA_NUM_THREADS": "1"}
    synthetic = make_lda_corpus(300, 200, 4, doc_length=40, seed=3)
    from_csr(synthetic.X, [f"w{i}" for i in range(200)], tmp_path / "corpus", row_group_size=50)
    script = tmp_path / "job.sh"
    launcher = subprocess.Popen(
        _svi_lda("slurm", "--jobs", "0", "--cores", "1", "--memory", "2GB",
                 "--interface", "lo", "--job-script-out", str(script), "--",
                 "train", str(tmp_path / "corpus"), "--topics", "4", "--epochs", "2",
                 "--batch-size", "100", "--out", str(tmp_path / "model"),
                 "--workers", "1", "--timeout", "120", "--top-words", "0"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    worker = None
    try:
        _wait_for_file(script, launcher, timeout=120)
        text = script.read_text()
        assert "#SBATCH" in text and "--cpus-per-task=1" in text
        assert "tls://127.0.0.1:" in text and "--tls-ca-file" in text
        assert "tcp://" not in text
        assert "export NUMBA_NUM_THREADS=1" in text
        assert "DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING=False" in text
        worker = subprocess.Popen(["bash", str(script)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out, err = launcher.communicate(timeout=240)
        assert launcher.returncode == 0, out + err
    finally:
        for proc in (launcher, worker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)
    model = load(tmp_path / "model")
    assert model.n_batch_iter_ == 6  # 300 docs / 100 per step x 2 epochs
