"""Deployment files: Dockerfile, docker-compose.yml (+ its Prometheus config), the kustomize
manifests under deploy/kubernetes.

No container engine or cluster here: compose is validated by Debian's `docker-compose` (v1)
`config -q`, the manifests by `kubectl kustomize` when kubectl is installed, Prometheus
configuration and alert rules by `promtool`, and every gpucost command line they run by the
real CLI parser. The Dockerfile's build context is checked by building the wheel from exactly
the files its COPY lines and .dockerignore let through.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from unittest import mock

import pytest
import yaml

from gpucost.cli import build_parser
from gpucost.ingest.prometheus.local import binaries
from gpucost.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy" / "kubernetes"
COMPOSE = REPO / "docker-compose.yml"
PROMTOOL = binaries()[1] if binaries() else None
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (Debian package 'prometheus')")


def assert_gpucost_args(args: list[str], env: dict[str, str] | None = None) -> None:
    """The arguments parse with the real `gpucost` parser in the container's environment
    (some options default from it, e.g. --prometheus from GPUCOST_PROMETHEUS_URL)."""
    try:
        with mock.patch.dict(os.environ, {k: str(v) for k, v in (env or {}).items() if v is not None}):
            build_parser().parse_args([str(a) for a in args])
    except SystemExit as exc:
        pytest.fail(f"gpucost {' '.join(map(str, args))}: usage error ({exc.code})")


# -- Dockerfile -------------------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_slim_nonroot_noneditable_with_healthcheck_and_data_volume():
    steps = dockerfile()
    args = {rest.split("=")[0]: rest.split("=", 1)[1] for word, rest in steps if word == "ARG" and "=" in rest}
    bases = [rest.split()[0].replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", "")) for w, rest in steps
             if w == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11-slim(-\w+)?", b) for b in bases), bases
    runs = " ".join(rest for w, rest in steps if w == "RUN")
    assert "pip install --prefix=/install ." in runs and " -e " not in runs
    user = [rest for w, rest in steps if w == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    env = " ".join(rest for w, rest in steps if w == "ENV")
    assert "GPUCOST_DB=/data/gpucost.duckdb" in env
    assert any(w == "VOLUME" and "/data" in rest for w, rest in steps)
    health = [rest for w, rest in steps if w == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert [rest for w, rest in steps if w == "ENTRYPOINT"] == ['["gpucost"]']
    cmd = yaml.safe_load([rest for w, rest in steps if w == "CMD"][-1])
    assert_gpucost_args(cmd)


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pat in patterns:
        pat = pat.rstrip("/")
        if pat.startswith("**/"):
            if any(fnmatch.fnmatch(p, pat[3:]) for p in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1)):
            return True
    return False


def test_dockerignore_keeps_the_context_small_and_every_package_folder_is_copied():
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    for path in (".venv/bin/python", ".git/HEAD", "test-artifacts/x.png", "demo.duckdb", "sub/x.duckdb",
                 "gpucost/__pycache__/cli.cpython-311.pyc", "gpucost.egg-info/PKG-INFO", "tests/test_x.py"):
        assert _ignored(path, patterns), path
    copied = {p.rstrip("/") for w, rest in dockerfile() if w == "COPY" and "--from" not in rest
              for p in rest.split()[:-1]}
    package_dirs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for folder in set(package_dirs.values()) | {"pyproject.toml", "README.md"}:
        assert folder in copied, f"Dockerfile does not COPY {folder}"
        assert not _ignored(folder + "/x.py", patterns), f".dockerignore drops {folder}"


@pytest.mark.slow
def test_the_docker_build_context_builds_a_wheel_carrying_the_sql(tmp_path):
    """What `pip install .` sees inside the image: only the COPY'd paths, minus .dockerignore."""
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    context = tmp_path / "context"
    for w, rest in dockerfile():
        if w != "COPY" or "--from" in rest:
            continue
        *sources, _dest = rest.split()
        for source in sources:
            src = REPO / source.rstrip("/")
            files = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file()]
            for f in files:
                rel = f.relative_to(REPO).as_posix()
                if not _ignored(rel, patterns):
                    (context / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, context / rel)
    out = tmp_path / "wheel"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(out), str(context)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    import zipfile
    names = zipfile.ZipFile(next(out.glob("gpucost-*.whl"))).namelist()
    assert "gpucost/sql/models/gpu_usage_steps.sql" in names and "gpucost/sql/migrations/0001_initial.sql" in names
    assert "gpucost/commands/collector_loop.py" in names and "gpucost/dashboard/app.py" in names


# -- docker-compose.yml -------------------------------------------------------------------------

def compose_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def docker_compose(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose (v1, Debian package 'docker-compose') is not installed; .ci/run installs it")
    return subprocess.run([exe, "-f", str(COMPOSE), "--project-directory", str(REPO), *args],
                          capture_output=True, text=True, env=compose_env(), timeout=120)


def test_docker_compose_config_is_valid():
    r = docker_compose("config", "-q")
    assert r.returncode == 0, r.stderr
    services = docker_compose("config", "--services")
    assert set(services.stdout.split()) == {"prometheus", "collector", "dashboard", "report", "exporter"}, \
        services.stderr
    profiles = docker_compose("config", "--profiles")             # the exporter only under `demo`
    assert profiles.stdout.split() == ["demo"], profiles.stderr


def test_compose_services_images_healthchecks_volume_and_commands():
    doc = yaml.safe_load(COMPOSE.read_text())      # resolves the x-gpucost anchors and merge keys
    services = doc["services"]
    assert "warehouse" in doc["volumes"]
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
    for name in ("prometheus", "collector", "dashboard", "exporter"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    assert any("/-/ready" in part for part in services["prometheus"]["healthcheck"]["test"])
    assert any("/healthz" in part for part in services["dashboard"]["healthcheck"]["test"])
    assert any(".snapshot" in part for part in services["collector"]["healthcheck"]["test"])
    for name in ("collector", "dashboard", "report"):
        assert "warehouse:/data" in services[name]["volumes"], name
        assert services[name]["environment"]["GPUCOST_DB"] == "/data/gpucost.duckdb"
    assert services["exporter"]["profiles"] == ["demo"]
    assert services["dashboard"]["depends_on"]["collector"]["condition"] == "service_healthy"
    assert services["collector"]["environment"]["GPUCOST_PROMETHEUS_URL"] == "${GPUCOST_PROMETHEUS_URL:-http://prometheus:9090}"
    expand = lambda args: [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", a) for a in args]  # noqa: E731
    for name in ("collector", "dashboard", "exporter"):
        env = {k: expand([v])[0] for k, v in (services[name].get("environment") or {}).items() if v is not None}
        assert_gpucost_args(expand(services[name]["command"]), env)
    assert services["collector"]["command"][0] == "run" and services["dashboard"]["command"][:3] == \
        ["serve", "--host", "0.0.0.0"]
    script = services["report"]["command"][0]
    report = next(line for line in script.splitlines() if "gpucost report" in line)
    argv = shlex.split(report.replace("\\", "").replace("$${GPUCOST_REPORT_ARGS:-}", ""))
    assert_gpucost_args(argv[1:argv.index("||")] if "||" in argv else argv[1:])


@needs_promtool
def test_compose_prometheus_config_and_targets(tmp_path):
    config = yaml.safe_load((REPO / "deploy/compose/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"dcgm-exporter", "kube-state-metrics", "gpucost-demo"} <= set(jobs)
    assert all(job.get("honor_labels") for job in jobs.values())
    assert jobs["gpucost-demo"]["static_configs"][0]["targets"] == ["exporter:9400"]
    # the container paths of the file_sd targets -> the repository's files
    text = (REPO / "deploy/compose/prometheus.yml").read_text().replace(
        "/etc/prometheus/targets/", str(REPO / "deploy/compose/targets") + "/")
    (tmp_path / "prometheus.yml").write_text(text)
    r = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "WARNING" not in r.stdout + r.stderr, r.stdout + r.stderr
    for job in ("dcgm-exporter", "kube-state-metrics"):
        groups = yaml.safe_load((REPO / f"deploy/compose/targets/{job}.yml").read_text())
        assert groups and all(g["targets"] for g in groups)


# -- Kubernetes (kustomize) ---------------------------------------------------------------------

def manifests() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        docs = [d for d in yaml.safe_load_all((K8S / resource).read_text()) if d]
        assert docs, resource
        objects += docs
    return objects


def by_kind(kind: str) -> list[dict]:
    return [o for o in manifests() if o["kind"] == kind]


def pod_specs() -> list[tuple[str, dict]]:
    out = [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in by_kind("Deployment")]
    out += [(c["metadata"]["name"], c["spec"]["jobTemplate"]["spec"]["template"]["spec"]) for c in by_kind("CronJob")]
    return out


def test_every_manifest_has_apiversion_kind_and_name():
    objects = manifests()
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "PersistentVolumeClaim",
            "Deployment", "Service", "CronJob", "ServiceMonitor", "PrometheusRule"} <= kinds
    for o in objects:
        assert o.get("apiVersion") and o.get("kind") and o.get("metadata", {}).get("name"), o


def test_kustomize_builds():
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    if not (kubectl or kustomize):
        pytest.skip("neither kubectl nor kustomize is installed")
    cmd = [kubectl, "kustomize", str(K8S)] if kubectl else [kustomize, "build", str(K8S)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    built = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert len(built) == len(manifests())
    for o in built:
        if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert o["metadata"]["namespace"] == "gpucost", o["metadata"]["name"]
    images = {c["image"] for o in built if o["kind"] in ("Deployment", "CronJob")
              for c in (o["spec"]["template"]["spec"] if o["kind"] == "Deployment"
                        else o["spec"]["jobTemplate"]["spec"]["template"]["spec"])["containers"]}
    assert images == {"gpucost:0.1.0"}


def test_workloads_selectors_images_and_the_shared_volume():
    (deployment,) = by_kind("Deployment")
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"      # one writer
    containers = {c["name"]: c for c in spec["template"]["spec"]["containers"]}
    assert set(containers) == {"collector", "dashboard"}
    (pvc,) = by_kind("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    for name, pod in pod_specs():
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for c in pod["containers"]:
            assert c["image"], (name, c["name"])
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
            for m in c["volumeMounts"]:
                assert m["name"] in volumes, (name, m)
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            assert env["GPUCOST_DB"] == "/data/gpucost.duckdb"
    assert containers["collector"]["args"][0] == "run"
    assert_gpucost_args(containers["collector"]["args"],
                        {e["name"]: e.get("value") for e in containers["collector"]["env"]})
    script = " ".join(containers["dashboard"]["args"])
    serve = shlex.split(script.split("exec ", 1)[1])
    assert serve[:2] == ["gpucost", "serve"] and "0.0.0.0" in serve
    assert_gpucost_args(serve[1:])
    assert containers["dashboard"]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (cronjob,) = by_kind("CronJob")
    assert len(cronjob["spec"]["schedule"].split()) == 5
    job_pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    (report,) = job_pod["spec"]["containers"]
    assert_gpucost_args(report["args"])
    # RWO volume: the report must run on the node of the pod that has it mounted
    term = job_pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname" and term["labelSelector"]["matchLabels"].items() <= \
        labels.items()


def test_service_and_servicemonitor_reach_the_dashboard():
    (deployment,) = by_kind("Deployment")
    (service,) = by_kind("Service")
    (monitor,) = by_kind("ServiceMonitor")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    dashboard = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "dashboard")
    port_names = {p["name"]: p["containerPort"] for p in dashboard["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names or port["targetPort"] in port_names.values()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"]
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports and endpoint["path"] == "/metrics"


def test_rbac_is_read_only_and_bound_to_the_service_account():
    (role,) = by_kind("ClusterRole")
    granted = {}
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
        for group in rule["apiGroups"]:
            granted.setdefault(group, set()).update(rule["resources"])
    assert granted[""] >= {"pods", "nodes", "namespaces"}
    assert granted["resource.k8s.io"] >= {"resourceslices", "resourceclaims", "deviceclasses"}
    (binding,) = by_kind("ClusterRoleBinding")
    (account,) = by_kind("ServiceAccount")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "gpucost"} in binding["subjects"]
    for name, pod in pod_specs():
        assert pod["serviceAccountName"] == account["metadata"]["name"], name


def test_configmap_holds_a_valid_gpucost_toml(tmp_path):
    (config,) = by_kind("ConfigMap")
    path = tmp_path / "gpucost.toml"
    path.write_text(config["data"]["gpucost.toml"])
    settings = load_settings(path, env={})            # the real settings parser
    assert settings.cluster and settings.step_seconds == 60
    for _, pod in pod_specs():
        for c in pod["containers"]:
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
            assert env["GPUCOST_CONFIG"] == mounts["config"] + "/gpucost.toml"


@needs_promtool
def test_prometheusrule_expressions_pass_promtool(tmp_path):
    (rule,) = by_kind("PrometheusRule")
    groups = rule["spec"]["groups"]
    alerts = {r["alert"]: r["expr"] for g in groups for r in g["rules"]}
    assert all(expr for expr in alerts.values())
    assert any("gpucost_idle_cost_usd_per_hour" in e for e in alerts.values())
    assert any("gpucost_stranded_gpus" in e for e in alerts.values())
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    r = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(alerts)} rules found" in r.stdout


def test_ci_installs_docker_compose():
    assert "docker-compose" in (REPO / ".ci" / "run").read_text()
