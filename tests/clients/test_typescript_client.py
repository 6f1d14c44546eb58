"""A TypeScript client generated from ``openapi/openapi.json``, type-checked with ``tsc``, against the live server.

``tests/clients/typescript``: openapi-typescript generates the types from the committed document
(``generate.mjs``), ``tsc`` compiles ``client.ts`` (which calls several losses with openapi-fetch), and
the compiled client runs against the server and checks the numbers; ``tsc`` must also refuse
``wrong.ts``, a request the document does not allow. CI installs the pinned npm packages
(``npm ci --prefix tests/clients/typescript``) and requires this test to run.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http import running_server
from tests.support.require import skip_unless_available

FOLDER = Path(__file__).resolve().parent / "typescript"
NODE = shutil.which("node")
if NODE is None:
    skip_unless_available("typescript", "node (Node.js 20) is not on PATH")
if not (FOLDER / "node_modules" / ".bin" / "tsc").exists():
    skip_unless_available("typescript", f"the npm packages are not installed: npm ci --prefix {FOLDER}")

TIMEOUT = 120


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=FOLDER, capture_output=True, text=True, timeout=TIMEOUT, check=False)


@pytest.fixture(scope="module")
def compiled() -> None:
    generated = run(str(NODE), "generate.mjs")
    assert generated.returncode == 0, generated.stderr
    built = run(str(FOLDER / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json")
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with running_server() as url:
        yield url


def test_the_generated_client_calls_the_service(compiled: None, server_url: str) -> None:
    result = run(str(NODE), "build/client.js", server_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("all checks passed")
    assert "FAIL" not in result.stdout


def test_the_types_refuse_a_request_the_document_does_not_allow(compiled: None) -> None:
    tsc = str(FOLDER / "node_modules" / ".bin" / "tsc")
    refused = run(tsc, "--noEmit", "--strict", "--module", "NodeNext", "--moduleResolution", "NodeNext",
                  "--target", "ES2022", "--skipLibCheck", "wrong.ts")  # fmt: skip
    assert refused.returncode != 0
    assert "wrong.ts(8," in refused.stdout
    assert "Type 'string' is not assignable" in refused.stdout  # y_true: numbers, not a string
    assert '\'"average"\' is not assignable to type \'"mean" | "sum" | "none"' in refused.stdout
