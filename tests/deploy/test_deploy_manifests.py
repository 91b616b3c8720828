"""Structure of deploy/: the Dockerfile, docker-compose.yml and the Kubernetes manifests.

No Docker engine or cluster runs here, so these checks read the files (and build the kustomizations with
``kubectl kustomize`` where kubectl is installed): every document parses and has a known kind, every
container is sized, probed and configured only with variables that the settings classes read, the workers never
outnumber the partitions, one image runs everything, and every command given to that image is a real
``distillguard`` command with valid options.
"""

from __future__ import annotations

import base64
import functools
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import yaml
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from distillguard.api.settings import ApiSettings
from distillguard.detector.settings import Settings
from distillguard.streams.settings import StreamSettings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
IMAGE = "distillguard"  # the image's name, before registry rewrites
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

# The kinds the manifests may use, with the only apiVersion each is served at.
KINDS = {
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "PodDisruptionBudget": "policy/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}
WORKLOADS = {"Deployment", "Job"}
SETTINGS_CLASSES = (Settings, StreamSettings, ApiSettings)
SETTING_NAMES = {name.upper() for cls in SETTINGS_CLASSES for name in cls.model_fields}


def load_all(path: Path) -> list[dict]:
    """Every non-empty YAML document of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifests() -> list[tuple[Path, dict]]:
    """(file, document) for every Kubernetes object under deploy/k8s (kustomizations excluded)."""
    return [
        (path, doc)
        for path in sorted(K8S.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load_all(path)
    ]


def objects(kind: str) -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def one(kind: str, name: str) -> dict:
    found = [doc for doc in objects(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r}, found {len(found)}"
    return found[0]


def pod_specs() -> Iterator[tuple[str, dict]]:
    """(workload name, pod spec) of every workload."""
    for _, doc in manifests():
        if doc["kind"] in WORKLOADS:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def containers() -> Iterator[tuple[str, dict]]:
    for workload, spec in pod_specs():
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield f"{workload}/{container['name']}", container


def config() -> dict[str, str]:
    return one("ConfigMap", "distillguard-config")["data"]


def secret() -> dict[str, str]:
    return one("Secret", "distillguard-secrets")["stringData"]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_app_services() -> dict[str, dict]:
    """The compose services that run the DistillGuard image."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


@functools.cache
def cli():
    """The real ``distillguard`` command tree, with the commands of the installed layers."""
    from distillguard.detector.cli import build_app

    return typer.main.get_command(build_app())


def assert_real_command(argv: list[str], where: str) -> None:
    """``distillguard ARGV`` names a command and its options parse (nothing is run)."""
    command, path, args = cli(), ["distillguard"], list(argv)
    while hasattr(command, "list_commands"):  # a command group: descend
        ctx = command.context_class(command)
        assert args, f"{where}: `{' '.join(path)}` needs a sub-command"
        name = args.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, (
            f"{where}: `{' '.join(path)} {name}` is not a command (have {command.list_commands(ctx)})"
        )
        command, path = sub, [*path, name]
    try:
        command.make_context(" ".join(path), args)
    except Exception as exc:  # the CLI library's UsageError: unknown option, bad value, missing argument
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"{where}: `distillguard {' '.join(argv)}`: {exc.format_message()}")


def compose_default(value: str) -> str:
    """A compose value with ``${VAR:-default}`` interpolations replaced by their defaults."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


# --- every file -------------------------------------------------------------------------------------


def test_every_manifest_parses_with_a_known_kind_and_api_version():
    docs = manifests()
    assert len(docs) >= 10
    for path, doc in docs:
        where = f"{path.relative_to(ROOT)}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        assert doc.get("kind") in KINDS, f"{where}: unknown kind"
        assert doc.get("apiVersion") == KINDS[doc["kind"]], f"{where}: apiVersion {doc.get('apiVersion')}"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), where
    for path in [COMPOSE, DEPLOY / "prometheus.yml"]:
        assert load_all(path), f"{path} is empty"


def test_each_kustomization_lists_exactly_the_manifests_beside_it():
    folders = {path.parent for path in K8S.rglob("*.yaml")}
    assert {f.name for f in folders} >= {"base", "production", "tools"}
    for folder in folders:
        kustomization = folder / "kustomization.yaml"
        assert kustomization.exists(), f"{folder} has manifests but no kustomization.yaml"
        spec = yaml.safe_load(kustomization.read_text())
        assert spec["kind"] == "Kustomization" and spec["apiVersion"] == KINDS["Kustomization"]
        listed = spec.get("resources", [])
        files = {r for r in listed if r.endswith(".yaml")}
        beside = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert files == beside, f"{kustomization}: lists {sorted(files)}, folder has {sorted(beside)}"
        for ref in set(listed) - files:
            assert (folder / ref / "kustomization.yaml").exists(), f"{kustomization}: {ref} is not a kustomization"
        assert spec.get("namespace") == "distillguard", f"{kustomization}: namespace"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed: kustomize build not checked")
def test_kustomize_builds_each_overlay():
    def build(name: str) -> list[dict]:
        out = subprocess.run(["kubectl", "kustomize", str(K8S / name)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, f"kubectl kustomize {name}: {out.stderr}"
        return [d for d in yaml.safe_load_all(out.stdout) if d]

    base, production, tools = build("base"), build("production"), build("tools")
    kinds = lambda docs: sorted({d["kind"] for d in docs})  # noqa: E731
    assert kinds(base) == [
        "ConfigMap",
        "Deployment",
        "Job",
        "Namespace",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    ]
    # production: the operator extras, and no placeholder Secret to overwrite the real one
    assert "Secret" not in kinds(production)
    assert {"ScaledObject", "ServiceMonitor", "PrometheusRule"} <= set(kinds(production))
    assert kinds(tools) == ["Job"]
    for doc in base + production + tools:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "distillguard", doc["metadata"]["name"]
    images = {
        c["image"] for d in production if d["kind"] in WORKLOADS for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == 1, "production runs one image"
    image = images.pop()
    assert image.startswith("registry.") and image.endswith(f":{PROJECT_VERSION}"), f"production image {image}"


# --- containers -------------------------------------------------------------------------------------


def test_every_container_runs_the_one_image_as_non_root_with_resources():
    seen = list(containers())
    assert {name.split("/")[0] for name, _ in seen} >= {
        "distillguard-api",
        "distillguard-worker",
        "distillguard-migrate",
        "distillguard-token",
    }
    images = {c["image"] for _, c in seen}
    assert len(images) == 1, f"one image for every process, got {images}"
    name, tag = images.pop().split(":")
    assert name == IMAGE and tag == PROJECT_VERSION, "the image is tagged with the project's version"
    for name, c in seen:
        res = c.get("resources", {})
        assert {"cpu", "memory"} <= set(res.get("requests", {})), f"{name}: cpu and memory requests"
        assert "memory" in res.get("limits", {}), f"{name}: memory limit"
        assert c.get("securityContext", {}).get("allowPrivilegeEscalation") is False, name
    for workload, spec in pod_specs():
        sc = spec.get("securityContext", {})
        assert sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, f"{workload}: non-root"


def image_helpers() -> dict[str, Path]:
    """Paths of the helper scripts inside the image -> their source in deploy/ (from the Dockerfile's COPY)."""
    helpers = {}
    for op, a in dockerfile_instructions():
        parts = a.split()
        if op == "COPY" and "--from=" not in a and parts[-1].endswith("/"):
            helpers |= {parts[-1] + Path(src).name: ROOT / src for src in parts[:-1] if src.startswith("deploy/")}
    return helpers


def assert_runs_in_image(entry: list[str] | None, args: list[str], where: str) -> None:
    """Either the image's ENTRYPOINT (distillguard) with real CLI args, or python on a helper it ships."""
    if entry is None:
        assert_real_command(args, where)
        return
    assert entry[0] == "python" and not args, f"{where}: {entry} {args}"
    assert entry[1] in image_helpers(), f"{where}: {entry[1]} is not copied into the image"
    assert image_helpers()[entry[1]].exists()


def test_every_container_command_is_a_real_cli_command_or_image_helper():
    for name, c in containers():
        assert_runs_in_image(c.get("command"), c.get("args", []), name)
    for name, svc in compose_app_services().items():
        assert_runs_in_image(svc.get("entrypoint"), svc.get("command", []), f"compose {name}")
    from distillguard.api.auth.roles import ROLES  # `token create` checks its role in the command body, not the parser

    token_job = one("Job", "distillguard-token")["spec"]["template"]["spec"]["containers"][0]["args"]
    for args in (token_job, compose()["services"]["token"]["command"]):
        assert args[:2] == ["token", "create"] and args[args.index("--role") + 1] in ROLES
    migrate_job = one("Job", "distillguard-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert migrate_job["command"] == compose()["services"]["migrate"]["entrypoint"]


def api_probe_path(probe: str) -> str:
    api = one("Deployment", "distillguard-api")["spec"]["template"]["spec"]["containers"][0]
    return api[probe]["httpGet"]["path"]


def test_api_is_probed_at_the_configured_port():
    api = one("Deployment", "distillguard-api")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert ports["http"] == int(config()["API_PORT"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert api[probe]["httpGet"]["port"] in ports, f"api {probe}"
    assert config()["API_HOST"] == "0.0.0.0", "the API must listen beyond the pod's loopback"


def test_api_probe_paths_answer_on_the_real_app(tmp_path):
    """Readiness follows the database; liveness does not (an outage must not restart every pod)."""
    from fastapi.testclient import TestClient

    from distillguard.api.app import create_app
    from distillguard.api.database import migrate

    up = f"sqlite:///{tmp_path / 'review.db'}"
    migrate(up)
    down = f"sqlite:///{tmp_path / 'missing' / 'review.db'}"  # its folder does not exist: cannot open
    for url, ready in ((up, 200), (down, 503)):
        app = create_app(ApiSettings(database_url=url, kafka_bootstrap="127.0.0.1:1"), outbox_loop=False)
        with TestClient(app) as client:  # no token: probes carry none
            assert client.get(api_probe_path("startupProbe")).status_code == ready
            assert client.get(api_probe_path("readinessProbe")).status_code == ready
            assert client.get(api_probe_path("livenessProbe")).status_code == 200


def test_worker_is_probed_and_scraped_on_the_metrics_port():
    worker = one("Deployment", "distillguard-worker")["spec"]["template"]
    c = worker["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["metrics"] == int(config()["METRICS_PORT"])
    assert c["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert worker["metadata"]["annotations"]["prometheus.io/port"] == config()["METRICS_PORT"]
    monitor = one("ServiceMonitor", "distillguard-worker")
    services = [
        s
        for s in objects("Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert len(services) == 1 and {p["name"] for p in services[0]["spec"]["ports"]} >= {
        e["port"] for e in monitor["spec"]["endpoints"]
    }


def test_worker_snapshots_go_to_a_volume_every_worker_shares():
    """Snapshots are keyed by partition set, not by pod: any worker handed a set must find its snapshot."""
    worker = one("Deployment", "distillguard-worker")
    spec = worker["spec"]["template"]["spec"]
    args = spec["containers"][0]["args"]
    state_dir = args[args.index("--state-dir") + 1]
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert state_dir in mounts, f"--state-dir {state_dir} is not a mounted volume (read-only root filesystem)"
    volume = next(v for v in spec["volumes"] if v["name"] == mounts[state_dir])
    claim = one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    svc = compose()["services"]["worker"]
    compose_dir = svc["command"][svc["command"].index("--state-dir") + 1]
    assert any(m.split(":")[1] == compose_dir and m.split(":")[0] in compose()["volumes"] for m in svc["volumes"]), (
        "compose: shared named volume"
    )


def test_alerts_use_metrics_the_worker_exports():
    from prometheus_client import generate_latest

    from distillguard.streams.metrics import REGISTRY

    exported = set()
    for line in generate_latest(REGISTRY).decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            exported |= {name} | ({f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else set())
    rules = [r for g in one("PrometheusRule", "distillguard-worker")["spec"]["groups"] for r in g["rules"]]
    assert rules
    for rule in rules:
        used = set(re.findall(r"\bdistillguard_\w+", rule["expr"]))
        assert used, f"{rule['alert']}: no worker metric"
        assert used <= exported, f"{rule['alert']}: {sorted(used - exported)} not exported by streams/metrics.py"


def test_selectors_match_their_pods():
    pods = {
        doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"]
        for _, doc in manifests()
        if doc["kind"] in WORKLOADS
    }
    for _, doc in manifests():
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Deployment":
            assert doc["spec"]["selector"]["matchLabels"].items() <= pods[name].items(), f"{kind} {name}"
        if kind in {"Service", "PodDisruptionBudget"}:
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            matched = [w for w, labels in pods.items() if selector.items() <= labels.items()]
            assert matched == [name], f"{kind} {name} selects {matched}"


# --- configuration ----------------------------------------------------------------------------------


def test_config_and_secret_hold_only_settings_that_parse(monkeypatch):
    env = config() | secret()
    unknown = set(env) - SETTING_NAMES
    assert not unknown, f"not Settings fields (renamed or misspelled?): {sorted(unknown)}"
    assert "DATABASE_URL" in secret() and "DATABASE_URL" not in config()
    assert "CHANGE-ME" in secret()["DATABASE_URL"], "the committed Secret must stay a placeholder"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        _, stream, api = (cls() for cls in SETTINGS_CLASSES)
    except ValidationError as exc:
        pytest.fail(f"the ConfigMap and Secret do not parse as settings: {exc}")
    assert stream.topic_partitions == int(config()["TOPIC_PARTITIONS"])
    assert api.database_url.startswith("postgresql+psycopg://")


def test_containers_take_their_environment_from_the_config_and_secret():
    for name, c in containers():
        refs = {(k, v["name"]) for ref in c.get("envFrom", []) for k, v in ref.items()}
        assert refs == {("configMapRef", "distillguard-config"), ("secretRef", "distillguard-secrets")}, name
        extra = {e["name"] for e in c.get("env", [])} - SETTING_NAMES
        assert not extra, f"{name}: env {sorted(extra)} are not Settings fields"


def test_compose_app_environment_holds_only_settings_that_parse(monkeypatch):
    services = compose_app_services()
    assert set(services) == {"migrate", "worker", "api", "token"}
    envs = [svc["environment"] for svc in services.values()]
    assert all(env == envs[0] for env in envs), "every DistillGuard service shares one environment"
    unknown = set(envs[0]) - SETTING_NAMES
    assert not unknown, f"compose sets non-Settings variables: {sorted(unknown)}"
    for key, value in envs[0].items():
        monkeypatch.setenv(key, compose_default(str(value)))
    url = make_url(ApiSettings().database_url)
    pg = compose()["services"]["postgres"]["environment"]
    assert (url.username, url.password, url.database) == (
        pg["POSTGRES_USER"],
        compose_default(pg["POSTGRES_PASSWORD"]),
        pg["POSTGRES_DB"],
    )
    assert url.host in compose()["services"] and url.drivername == "postgresql+psycopg"


def worker_group(args: list[str]) -> str:
    """The consumer group a ``distillguard worker ...`` command joins (its --group, else the CLI's default)."""
    if "--group" in args:
        return args[args.index("--group") + 1]
    command = cli().get_command(cli().context_class(cli()), "worker")
    return next(p.default for p in command.params if p.name == "group")


def test_workers_never_outnumber_the_partitions():
    partitions = int(config()["TOPIC_PARTITIONS"])
    worker = one("Deployment", "distillguard-worker")
    assert 1 <= worker["spec"]["replicas"] <= partitions
    scaled = one("ScaledObject", "distillguard-worker")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (worker["kind"], worker["metadata"]["name"])
    assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= partitions
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["topic"] == config().get(
        "EVENTS_TOPIC", StreamSettings.model_fields["events_topic"].default
    )
    assert trigger["metadata"]["bootstrapServers"] == config()["KAFKA_BOOTSTRAP"]
    assert trigger["metadata"]["consumerGroup"] == worker_group(
        worker["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert trigger["metadata"]["allowIdleConsumers"] == "false"
    env = compose()["services"]["worker"]["environment"]
    assert compose()["services"]["worker"]["deploy"]["replicas"] <= int(env["TOPIC_PARTITIONS"])


# --- docker compose ---------------------------------------------------------------------------------


def test_compose_references_resolve():
    spec = compose()
    services, volumes = spec["services"], set(spec.get("volumes") or {})
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):  # the short form
            deps = {dep: {"condition": "service_started"} for dep in deps}
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = cond["condition"]
            if condition == "service_healthy":
                target = services[dep]
                assert "healthcheck" in target or "build" in target, f"{dep} has no healthcheck (the image's counts)"
                assert not target.get("healthcheck", {}).get("disable"), f"{dep}: healthcheck disabled"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is one-shot: restart must be 'no'"
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: bind mount {source} missing"
            else:
                assert source in volumes, f"{name}: volume {source} not declared"
        if "build" in svc:
            assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == DOCKERFILE
            image = compose_default(svc["image"])
            assert image == next(c["image"] for _, c in containers()), f"{name}: compose and Kubernetes run one image"
    assert services["worker"]["command"][0] == "worker" and "ports" not in services["worker"], (
        "scalable: no fixed host port"
    )
    assert {"kafka", "postgres"} <= {d for d in services["worker"]["depends_on"]} | {
        d for d in services["migrate"]["depends_on"]
    }


def test_compose_kafka_is_single_node_kraft_with_reachable_listeners():
    kafka = compose()["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols) and env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised, "the controller listener is not advertised"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    node = env["KAFKA_NODE_ID"]
    assert (
        env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        == f"{node}@kafka:{listeners[env['KAFKA_CONTROLLER_LISTENER_NAMES']].lstrip(':')}"
    )
    # the app's bootstrap is an advertised listener on the compose network
    bootstrap = compose()["services"]["worker"]["environment"]["KAFKA_BOOTSTRAP"]
    assert bootstrap in advertised.values()
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16, "CLUSTER_ID is a base64url UUID"
    # a topic a client touches before the workers create it gets the workers' partition count
    assert env["KAFKA_NUM_PARTITIONS"] == compose()["services"]["worker"]["environment"]["TOPIC_PARTITIONS"]


def test_prometheus_scrapes_the_workers_metrics_port():
    scrape = load_all(DEPLOY / "prometheus.yml")[0]["scrape_configs"]
    ports = {sd["port"] for job in scrape for sd in job.get("dns_sd_configs", [])}
    assert ports == {int(compose()["services"]["worker"]["environment"]["METRICS_PORT"])}


# --- Dockerfile -------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    steps = dockerfile_instructions()
    stages = [i for i, (op, _) in enumerate(steps) if op == "FROM"]
    assert len(stages) >= 2, "multi-stage"
    final = steps[stages[-1] :]
    args = dict(a.split("=", 1) for op, a in steps if op == "ARG" and "=" in a)
    assert all(
        a.split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"]) == "python:3.11-slim"
        for op, a in steps
        if op == "FROM"
    )
    users = [a for op, a in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the final stage runs as a non-root user"
    uids = {spec["securityContext"]["runAsUser"] for _, spec in pod_specs()}
    assert uids == {int(users[-1].split(":")[0])}, "Kubernetes runs the image's own user"
    assert any(op == "HEALTHCHECK" for op, _ in final)
    assert ("ENTRYPOINT", '["distillguard"]') in final
    env = {k for op, a in final if op == "ENV" for k in re.findall(r"(\w+)=", a)}
    runtime = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
    assert env - runtime and env - runtime <= SETTING_NAMES, (
        f"image ENV that Settings does not read: {sorted(env - runtime - SETTING_NAMES)}"
    )
    assert not any(op == "ADD" for op, _ in steps), "COPY only: no remote ADD"
    assert not any(re.search(r"\b(curl|wget)\b", a) for op, a in steps if op == "RUN"), "no downloads but PyPI"


def test_dockerfile_copies_only_what_dockerignore_lets_in():
    """The build context is the repository root; every COPY source must exist and survive .dockerignore."""
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert patterns[0] == "*", ".dockerignore is an allow-list"
    sources = [
        src.rstrip("/")
        for op, a in dockerfile_instructions()
        if op == "COPY" and "--from=" not in a
        for src in a.split()[:-1]
    ]
    assert sources
    for src in sources:
        assert src in allowed or any(src.startswith(f"{a}/") for a in allowed), f"COPY {src}: excluded by .dockerignore"
        assert (ROOT / src).exists(), f"COPY {src}: not in the repository"


# --- the health check the image runs ----------------------------------------------------------------


@pytest.fixture
def serve():
    """Start real HTTP servers answering GET of one path with a given status (404 elsewhere); yields a starter."""
    import http.server
    import threading

    servers = []

    def start(status: int, path: str) -> int:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status if self.path == path else 404)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def healthcheck(api_port: int, metrics_port: int) -> subprocess.CompletedProcess:
    import os
    import sys

    env = os.environ | {"API_PORT": str(api_port), "METRICS_PORT": str(metrics_port)}
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py")], env=env, capture_output=True, text=True, timeout=20
    )


def test_healthcheck_passes_on_a_healthy_api(serve):
    # the same path Kubernetes' readiness probe uses, which the real app serves (test above)
    result = healthcheck(serve(200, api_probe_path("readinessProbe")), free_port())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{api_probe_path('readinessProbe')} answered 200" in result.stdout


def test_healthcheck_fails_on_an_unhealthy_api_even_if_metrics_answer(serve):
    result = healthcheck(serve(503, api_probe_path("readinessProbe")), serve(200, "/metrics"))
    assert result.returncode == 1 and "answered 503" in result.stdout


def test_healthcheck_passes_on_a_worker_metrics_endpoint(serve):
    result = healthcheck(free_port(), serve(200, "/metrics"))
    assert result.returncode == 0 and "/metrics answered 200" in result.stdout


def test_healthcheck_fails_when_nothing_listens():
    result = healthcheck(free_port(), free_port())
    assert result.returncode == 1 and "nothing listens" in result.stdout
