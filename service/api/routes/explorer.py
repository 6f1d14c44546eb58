"""The loss explorer (``GET /explorer``; ``GET /`` redirects there): a page for people.

It lists the catalog by family, each loss with its formula (MathML, made from the catalog's
LaTeX by ``latex2mathml`` when the app starts) and its reference. Picking a loss plots the
loss and its gradient against one entry of an input over a range, for the targets and params
the visitor sets; the page computes through the service's public API (one ``POST /batch``)
and shows the request it sent. Its script and style are this package's own files, served
under ``/explorer/assets``: nothing is fetched from another host.
"""

from __future__ import annotations

import functools
import html
from importlib import resources
from itertools import groupby

from latex2mathml.converter import convert
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

from ...engine import CATALOG
from . import OperationRoute, Routes
from .docs import AssetsMount

#: Only this service's own script, style and API: the page asks no other host for anything.
SELF_ONLY = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"}

ASSETS = "/explorer/assets"


@functools.cache
def page() -> str:
    """``templates/explorer.html`` with the catalog's names, formulas and references, rendered once."""
    families = []
    for family, specs in groupby(CATALOG.values(), key=lambda spec: spec.family):
        items = "".join(
            f'<li><button type="button" class="loss" data-loss="{html.escape(spec.name)}" aria-pressed="false">'
            f'<span class="name">{html.escape(spec.name)}</span>'
            f'<span class="formula">{convert(spec.formula)}</span>'
            f'<span class="reference">{html.escape(spec.reference)}</span></button></li>'
            for spec in specs
        )
        families.append(f'<section class="family"><h2>{html.escape(family)}</h2><ul>{items}</ul></section>')
    template = resources.files("service.api").joinpath("templates/explorer.html").read_text(encoding="utf-8")
    return template.replace("{families}", "".join(families)).replace("{assets}", ASSETS)


def routes() -> Routes:
    async def explorer(request: Request) -> HTMLResponse:
        return HTMLResponse(page(), headers=SELF_ONLY)

    async def home(request: Request) -> RedirectResponse:
        return RedirectResponse("/explorer", status_code=307)

    return Routes(
        served=[
            OperationRoute("/explorer", explorer),
            OperationRoute("/", home),
            AssetsMount(ASSETS, StaticFiles(packages=[("service.api", "static/explorer")]), name="explorer-assets"),
        ]
    )
