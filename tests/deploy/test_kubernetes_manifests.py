"""deploy/kubernetes/: every manifest valid for a pinned Kubernetes version, and what it promises.

Validation is kubernetes-validate's strict mode (unknown fields are errors) against the
OpenAPI schemas of ``KUBERNETES_VERSION``; the same check from the command line:

    kubernetes-validate --strict -k 1.33.0 deploy/kubernetes/{deployment,service,hpa,pdb}.yaml

Then the contract with the service: probes on its real routes, the security context, the
env variables it reads, graceful termination longer than uvicorn's, metrics annotations.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
#: The Kubernetes version the manifests are checked against (one kubernetes-validate ships).
KUBERNETES_VERSION = "1.33.0"
UVICORN_GRACEFUL_SECONDS = 30  # service/__main__.py: timeout_graceful_shutdown


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _kustomization() -> dict[str, Any]:
    return _documents(MANIFESTS / "kustomization.yaml")[0]


RESOURCE_FILES = [MANIFESTS / name for name in _kustomization()["resources"]]
RESOURCES = {doc["kind"]: doc for path in RESOURCE_FILES for doc in _documents(path)}


def _deployment() -> dict[str, Any]:
    return RESOURCES["Deployment"]


def _container() -> dict[str, Any]:
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    return container


def _env() -> dict[str, str]:
    return {item["name"]: item["value"] for item in _container()["env"]}


def _quantity(value: str) -> float:
    """A Kubernetes quantity (``512Mi``, ``1Gi``, ``500m``, ``2``) as a number of bytes or cores."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


# Validation --------------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _kustomization()
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    assert set(RESOURCES) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for document in _documents(path):
        validated = kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        assert validated.startswith("1.33")


def test_strict_validation_refuses_an_unknown_field() -> None:
    """The validator has teeth: a misspelt field fails in strict mode."""
    broken = copy.deepcopy(_deployment())
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_cli_validates_them_too() -> None:
    """The command line in the module docstring (what CI or a developer runs by hand)."""
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION]
    result = subprocess.run([*command, *map(str, RESOURCE_FILES)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(RESOURCE_FILES), result.stdout
    assert "WARN" not in result.stdout and "ERROR" not in result.stdout


# The Deployment's contract with the service -----------------------------------------------------


def test_image_port_and_env() -> None:
    container = _container()
    assert container["image"].startswith("loss-service:")
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8001, "protocol": "TCP"},
    ]
    env = _env()
    assert env["LOSS_SERVICE_HOST"] == "0.0.0.0"
    assert env["LOSS_SERVICE_WORKERS"] == "2"
    assert env["LOSS_SERVICE_PORT"] == "8000"
    assert env["LOSS_SERVICE_GRPC_PORT"] == "8001"
    assert "EXPOSE 8000 8001" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_every_service_variable_is_a_setting_and_valid() -> None:
    """Each LOSS_SERVICE_* variable names a field of service/settings.py, and its value passes."""
    env = _env()
    ours = {name: value for name, value in env.items() if name.startswith("LOSS_SERVICE_")}
    fields = {f"LOSS_SERVICE_{name.upper()}" for name in Settings.model_fields}
    assert set(ours) <= fields, f"not settings: {set(ours) - fields}"
    settings = Settings.model_validate({name.removeprefix("LOSS_SERVICE_").lower(): v for name, v in ours.items()})
    assert settings.workers == 2 and settings.host == "0.0.0.0"
    others = set(env) - set(ours)
    assert others == {"PROMETHEUS_MULTIPROC_DIR"}
    # Service links would add LOSS_SERVICE_PORT=tcp://...:80 for the Service named loss-service.
    assert _deployment()["spec"]["template"]["spec"]["enableServiceLinks"] is False


def test_probes_use_the_service_routes() -> None:
    container = _container()
    routes = {getattr(route, "path", None) for route in create_app().routes}
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in routes
        assert container[probe]["httpGet"]["port"] in ("http", 8000)
    # Readiness: the gRPC health service of the server as a whole (no `service`), on the gRPC port.
    assert container["readinessProbe"]["grpc"] == {"port": int(_env()["LOSS_SERVICE_GRPC_PORT"])}
    assert "httpGet" not in container["readinessProbe"]


def test_security_context() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    context = _container()["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 10001
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER 10001(:10001)?$", dockerfile, re.MULTILINE), "the image's user is not 10001"


def test_writable_tmp_and_metrics_directory_on_a_read_only_root() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in _container()["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # The directory must exist when the workers import the metrics: a mount point of its own does.
    metrics_dir = _env()["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics_dir.startswith("/tmp/")
    assert "emptyDir" in volumes[mounts[metrics_dir]]


def test_graceful_termination() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    command = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "/bin/sleep"  # coreutils, in the Debian base image
    assert "debian" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    pre_stop = int(command[1])
    assert pre_stop >= 5
    assert pod["terminationGracePeriodSeconds"] > pre_stop + UVICORN_GRACEFUL_SECONDS
    strategy = _deployment()["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_resources_sized_for_two_workers_and_the_body_limit() -> None:
    resources = _container()["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}
    workers = int(_env()["LOSS_SERVICE_WORKERS"])
    body = int(_env().get("LOSS_SERVICE_MAX_BODY_BYTES", Settings().max_body_bytes))
    assert _quantity(resources["limits"]["cpu"]) >= workers  # a core per worker
    assert _quantity(resources["requests"]["cpu"]) <= _quantity(resources["limits"]["cpu"])
    # Idle ~195 MiB for two workers, plus one maximum-size JSON body in each at ~5x its size.
    needed = 195 * 2**20 + workers * 5 * body
    assert _quantity(resources["limits"]["memory"]) >= needed
    assert _quantity(resources["requests"]["memory"]) <= _quantity(resources["limits"]["memory"])


def test_prometheus_annotations() -> None:
    annotations = _deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(_container()["ports"][0]["containerPort"])
    assert annotations["prometheus.io/path"] == "/metrics"
    assert "/metrics" in {getattr(route, "path", None) for route in create_app().routes}


# Service, autoscaler, disruption budget ---------------------------------------------------------


def _pod_labels() -> dict[str, str]:
    return _deployment()["spec"]["template"]["metadata"]["labels"]


def test_service() -> None:
    service = RESOURCES["Service"]
    assert service["spec"]["type"] == "ClusterIP"
    http, grpc = service["spec"]["ports"]
    assert (http["name"], http["port"], http["targetPort"]) == ("http", 80, "http")
    assert (grpc["name"], grpc["port"], grpc["targetPort"]) == ("grpc", 8001, "grpc")
    assert grpc["appProtocol"] == "kubernetes.io/h2c"
    assert service["spec"]["selector"].items() <= _pod_labels().items()
    assert _deployment()["spec"]["selector"]["matchLabels"].items() <= _pod_labels().items()


def test_horizontal_pod_autoscaler() -> None:
    hpa = RESOURCES["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": _deployment()["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    assert "replicas" not in _deployment()["spec"], "the HPA owns the replica count"


def test_pod_disruption_budget() -> None:
    pdb = RESOURCES["PodDisruptionBudget"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"].get("minAvailable") == 1 or pdb["spec"].get("maxUnavailable") == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= _pod_labels().items()
    assert RESOURCES["HorizontalPodAutoscaler"]["spec"]["minReplicas"] > pdb["spec"].get("minAvailable", 0)
