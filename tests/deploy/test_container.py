"""Container smoke test: build the image with podman, run it, call it over HTTP.

Needs rootful podman with runc and the base image
docker.io/library/debian:bookworm-slim; `bash .ci/container-tools.sh` (as root)
provides all three. Without podman/runc the test is skipped with the reason; a
missing base image or podman config is made by running that script when it can be
(root, with podman, runc and mmdebstrap already installed), else the test skips
(or fails, when LOSS_SERVICE_TEST_REQUIRE names "container", as .ci/run sets it).

Run it alone with:  python -m pytest -m container -v
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support.require import skip_unless_available

pytestmark = pytest.mark.container

# Imported before any fixture runs, so a missing test extra skips before the build.
httpx = pytest.importorskip("httpx", reason="httpx (the `test` extra) is not installed")
np = pytest.importorskip("numpy")

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO_ROOT / ".ci" / "container-tools.sh"
CONF_DROPIN = Path("/etc/containers/containers.conf.d/50-loss-service.conf")
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
IMAGE = "localhost/loss-service:test"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CONTAINER_PORT = 8000
GRPC_PORT = 8001
EXPECTED_UID = 10001
HOW_TO_SETUP = "run `bash .ci/container-tools.sh` as root"

BUILD_TIMEOUT_S = 600
SETUP_TIMEOUT_S = 600
LIVEZ_TIMEOUT_S = 60
CMD_TIMEOUT_S = 60


def _which(name: str) -> str | None:
    """shutil.which, also looking in the sbin directories (runc lives in /usr/sbin)."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + "/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def _run(args: list[str], *, timeout: float = CMD_TIMEOUT_S, check: bool = False) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out after {timeout:.0f} s: {' '.join(args)}\n{_tail(exc.stdout)}\n{_tail(exc.stderr)}")
    if check and proc.returncode != 0:
        pytest.fail(
            f"command failed (exit {proc.returncode}): {' '.join(args)}\n"
            f"--- stdout ---\n{_tail(proc.stdout)}\n"
            f"--- stderr ---\n{_tail(proc.stderr)}"
        )
    return proc


def _tail(text: str | bytes | None, lines: int = 60) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _skip(reason: str) -> None:
    """Skip, or fail where the run requires this test (LOSS_SERVICE_TEST_REQUIRE, in CI)."""
    print(f"SKIP container test: {reason}")
    skip_unless_available("container", reason)


def _podman(*args: str, timeout: float = CMD_TIMEOUT_S, check: bool = False):
    return _run(["podman", *args], timeout=timeout, check=check)


@pytest.fixture(scope="module")
def podman_ready() -> None:
    """Skip unless podman, runc and the base image are usable (made if they can be)."""
    missing = [tool for tool in ("podman", "runc") if _which(tool) is None]
    if missing:
        _skip(f"{' and '.join(missing)} not installed; {HOW_TO_SETUP}")

    def base_image_present() -> bool:
        return _podman("image", "exists", BASE_IMAGE).returncode == 0

    needs_setup = not base_image_present() or (not CONF_DROPIN.exists() and "CONTAINERS_CONF" not in os.environ)
    if needs_setup:
        # The script would apt-get install mmdebstrap if it were missing: a test
        # must not do that, so it runs only when everything is installed.
        if os.geteuid() != 0 or _which("mmdebstrap") is None or not SETUP_SCRIPT.exists():
            _skip(
                f"base image {BASE_IMAGE} or podman config {CONF_DROPIN} missing "
                f"and cannot be made here (needs root and mmdebstrap); {HOW_TO_SETUP}"
            )
        print(f"running {SETUP_SCRIPT} to make the base image / podman config")
        proc = _run(["bash", str(SETUP_SCRIPT)], timeout=SETUP_TIMEOUT_S)
        if proc.returncode != 0 or not base_image_present():
            _skip(
                f"base image {BASE_IMAGE} could not be made: {SETUP_SCRIPT.name} "
                f"exited {proc.returncode}\n{_tail(proc.stderr, 30)}"
            )


@pytest.fixture(scope="module")
def image(podman_ready: None) -> str:
    """Build the service image from the repository root (podman caches the layers)."""
    args = [
        "build",
        "--format",
        "docker",  # the OCI format would drop the HEALTHCHECK
        "--pull=never",  # no registry is reachable; the base image is local
        "--tag",
        IMAGE,
        "--file",
        str(REPO_ROOT / "Dockerfile"),
    ]
    if CA_BUNDLE.is_file():
        # TLS to the package index may be intercepted: hand pip the host's CA bundle
        # as a build secret (mounted for the pip step only, never stored in a layer).
        args += ["--secret", f"id=pip_ca,src={CA_BUNDLE}"]
    args.append(str(REPO_ROOT))
    started = time.monotonic()
    _podman(*args, timeout=BUILD_TIMEOUT_S, check=True)
    print(f"built {IMAGE} in {time.monotonic() - started:.1f} s")
    return IMAGE


class Container:
    def __init__(self, name: str) -> None:
        self.name = name

    def diagnostics(self) -> str:
        state = _podman("inspect", "--format", "{{json .State}}", self.name)
        logs = _podman("logs", "--tail", "200", self.name)
        return (
            f"--- podman inspect {self.name} .State ---\n"
            f"{state.stdout.strip()}{state.stderr.strip()}\n"
            f"--- podman logs {self.name} ---\n{logs.stdout}{logs.stderr}"
        )

    def fail(self, message: str) -> None:
        # The test prints diagnostics() for any failure (see its except clause).
        pytest.fail(message)

    def running(self) -> bool:
        proc = _podman("inspect", "--format", "{{.State.Running}}", self.name)
        return proc.stdout.strip() == "true"

    def host_port(self, container_port: int = CONTAINER_PORT) -> tuple[str, int]:
        proc = _podman("port", self.name, str(container_port))
        line = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
        if proc.returncode != 0 or ":" not in line:
            self.fail(f"`podman port {self.name} {container_port}` gave {line!r}: {proc.stderr}")
        host, port = line.rsplit(":", 1)
        return host, int(port)


@pytest.fixture
def container(image: str, request: pytest.FixtureRequest) -> Container:
    name = f"loss-service-test-{uuid.uuid4().hex[:10]}"
    ctr = Container(name)

    def remove() -> None:
        _run(["podman", "rm", "--force", "--time", "3", name], timeout=CMD_TIMEOUT_S)

    request.addfinalizer(remove)
    _podman(
        "run",
        "--detach",
        "--name",
        name,
        # random free ports, on loopback only
        "--publish",
        f"127.0.0.1::{CONTAINER_PORT}",
        "--publish",
        f"127.0.0.1::{GRPC_PORT}",
        image,
        check=True,
    )
    return ctr


def check_grpc(host: str, port: int) -> None:
    """The gRPC health service says SERVING and ModelInfer computes the documented example."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from service.rpc import protocol as pb

    request = pb.ModelInferRequest(model_name="mse")
    for name, values in (("y_true", [0.0, 1.0, 1.0, 0.0]), ("y_pred", [0.5, 1.0, 1.0, 0.0])):
        request.inputs.add(name=name, datatype="FP64", shape=[2, 2])
        request.raw_input_contents.append(np.asarray(values).tobytes())
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        answer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")(
            request.SerializeToString(), timeout=10
        )
    response = pb.ModelInferResponse.FromString(answer)
    assert [o.name for o in response.outputs] == ["loss"]
    assert np.frombuffer(response.raw_output_contents[0], dtype=np.float64).tolist() == [0.0625]


def test_container_serves_mse(container: Container) -> None:
    try:
        host, port = container.host_port()
        assert host == "127.0.0.1", f"port published on {host}, expected loopback only"
        base = f"http://{host}:{port}"

        with httpx.Client(base_url=base, timeout=10.0, trust_env=False) as client:
            # 1. wait (bounded) for the service to come up
            deadline = time.monotonic() + LIVEZ_TIMEOUT_S
            last_error = ""
            while True:
                try:
                    resp = client.get("/livez", timeout=2.0)
                    if resp.status_code == 200:
                        break
                    last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                except httpx.HTTPError as exc:
                    last_error = repr(exc)
                if not container.running():
                    container.fail(f"container exited before /livez answered ({last_error})")
                if time.monotonic() > deadline:
                    container.fail(f"/livez not ready after {LIVEZ_TIMEOUT_S} s ({last_error})")
                time.sleep(0.5)
            assert resp.json() == {"status": "ok"}

            # 2. the documented example, then random data checked against NumPy
            resp = client.post(
                "/losses/mse",
                json={
                    "y_true": [[0, 1], [1, 0]],
                    "y_pred": [[0.5, 1], [1, 0]],
                    "return_grad": True,
                },
            )
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["name"] == "mse"
            assert body["reduction"] == "mean"
            assert body["dtype"] == "float64"
            assert body["loss"] == pytest.approx(0.0625, rel=1e-12)
            np.testing.assert_allclose(body["grad"]["y_pred"], [[0.25, 0.0], [0.0, 0.0]], rtol=1e-12, atol=0)

            rng = np.random.default_rng(20240611)
            y_true = rng.normal(size=(3, 5))
            y_pred = rng.normal(size=(3, 5))
            resp = client.post(
                "/losses/mse",
                json={
                    "y_true": y_true.tolist(),
                    "y_pred": y_pred.tolist(),
                    "return_grad": True,
                },
            )
            assert resp.status_code == 200, resp.text
            body = resp.json()
            diff = y_pred - y_true
            np.testing.assert_allclose(body["loss"], np.mean(diff**2), rtol=1e-12, atol=0)
            grad = np.asarray(body["grad"]["y_pred"], dtype=np.float64)
            assert grad.shape == y_pred.shape
            np.testing.assert_allclose(grad, 2.0 * diff / diff.size, rtol=1e-12, atol=0)

        # 3. the Open Inference Protocol over gRPC on the image's second port
        check_grpc(*container.host_port(GRPC_PORT))

        # 4. the service process (PID 1) and exec'd commands run as the non-root user
        proc = _podman("exec", container.name, "id", "-u")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == str(EXPECTED_UID)
        proc = _podman("exec", container.name, "cat", "/proc/1/status")
        uid_line = next(line for line in proc.stdout.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(EXPECTED_UID)] * 4, uid_line

        # 5. the image's HEALTHCHECK works (run by hand: no systemd timers here)
        proc = _podman("healthcheck", "run", container.name, timeout=30)
        assert proc.returncode == 0, f"healthcheck failed: {proc.stdout}{proc.stderr}"
        status = _podman("inspect", "--format", "{{.State.Health.Status}}", container.name)
        assert status.stdout.strip() == "healthy", status.stdout + status.stderr
    except BaseException:
        print(container.diagnostics())
        raise
