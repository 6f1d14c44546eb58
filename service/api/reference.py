"""The loss reference, ``docs/losses.md``, generated from the catalog (the same entries ``GET /losses`` serves).

``python -m service.api.reference [PATH]`` writes it; a test fails while the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from itertools import groupby
from pathlib import Path
from typing import Any

from .catalog import InputInfo, LossInfo, ParamInfo, catalog

HEADER = """\
# The losses

Generated from the service's catalog by `python -m service.api.reference` (a test fails when this
file is stale); `GET /losses` serves the same entries as JSON. Every loss takes the request of
[the HTTP API](http-api.md) (`POST /losses/{name}`, its inputs as nested arrays, `params`,
`reduction`, `return_grad`, `dtype`) and is also a model of the same name under `/v2`.

Shapes name their axes: `N` the batch, `C` the classes, `D` the features, `T` time steps, `S`
target positions; `...` is any number of further axes. Inputs marked *differentiable* get a
gradient when `return_grad` is true. Each worked example is a real request and the answer this
service gives to it.

"""


def _bounds(param: ParamInfo) -> str:
    parts = []
    if param.minimum is not None:
        parts.append(f">= {param.minimum}")
    if param.exclusive_minimum is not None:
        parts.append(f"> {param.exclusive_minimum}")
    if param.maximum is not None:
        parts.append(f"<= {param.maximum}")
    if param.exclusive_maximum is not None:
        parts.append(f"< {param.exclusive_maximum}")
    if param.choices is not None:
        parts.append("one of " + ", ".join(f"`{c}`" for c in param.choices))
    if param.nullable:
        parts.append("or null")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _input_row(item: InputInfo) -> str:
    shape = "(" + ", ".join(item.shape) + ")"
    role = ", ".join(
        word
        for word, present in (
            ("differentiable", item.differentiable),
            ("integers", item.dtype == "integer"),
            ("optional", not item.required),
        )
        if present
    )
    return f"| `{item.name}` | `{shape}` | {role or ''} | {_cell(item.description)} |"


def _param_row(param: ParamInfo) -> str:
    default = json.dumps(param.default)
    return f"| `{param.name}` | {param.type} | `{default}` | {_bounds(param)} | {_cell(param.description)} |"


def _json(document: Any) -> str:
    return json.dumps(document, separators=(", ", ": "))


def entry(info: LossInfo) -> str:
    lines = [f"### `{info.name}`", "", info.summary, "", "$$", info.formula, "$$", ""]
    flags = [flag for flag, present in (("batch-coupled", info.batch), ("scalar", info.scalar)) if present]
    lines += [f"Reference: `{info.reference}`.", ""]
    if flags:
        lines += [
            f"**{' and '.join(flags).capitalize()}**: "
            + (
                "one value for the whole batch; `mean` is its only reduction and it takes no `sample_weight`."
                if info.scalar
                else "a sample's loss depends on the other samples of the request, which is one batch."
            ),
            "",
        ]
    lines += ["| input | shape | | meaning |", "| --- | --- | --- | --- |", *map(_input_row, info.inputs), ""]
    if info.params:
        lines += [
            "| param | type | default | bounds | meaning |",
            "| --- | --- | --- | --- | --- |",
            *map(_param_row, info.params),
            "",
        ]
    reductions = ", ".join(f"`{r}`" for r in info.reductions)
    lines += [
        f"Reductions: {reductions} (default `{info.default_reduction}`). Unreduced (`none`): {info.none_shape}.",
        "",
        "Worked example, `POST /losses/" + info.name + "`:",
        "",
        "```json",
        _json(info.example.request),
        "```",
        "",
        "answers:",
        "",
        "```json",
        _json(info.example.response),
        "```",
        "",
    ]
    return "\n".join(lines)


def render() -> str:
    entries = list(catalog().values())
    index = ["## Index", ""]
    sections = []
    for family, grouped in groupby(entries, key=lambda info: info.family):
        members = list(grouped)
        index.append(f"- {family}: " + ", ".join(f"[`{m.name}`](#{m.name})" for m in members))
        sections.append(f"## {family}\n\n" + "\n".join(entry(m) for m in members))
    return HEADER + "\n".join(index) + "\n\n" + "\n".join(sections)


def main(argv: list[str] | None = None) -> None:
    path = Path((argv if argv is not None else sys.argv[1:] or ["docs/losses.md"])[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
