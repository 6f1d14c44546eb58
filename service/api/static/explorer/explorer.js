"use strict";
/*
 * The loss explorer's script: everything it shows comes from the service's public API.
 * GET /losses gives each loss's inputs, params and a worked example; "Plot" sends one
 * POST /batch with one computation per point (the swept entry set to that point), and draws
 * the loss and its gradient with respect to that entry. The request is shown as curl and as
 * JavaScript; any problem the service answers is shown as it came.
 */
(function () {
  const $ = (id) => document.getElementById(id);
  const svgNamespace = "http://www.w3.org/2000/svg";
  let catalog = null; // loss name -> catalog entry
  let current = null; // the entry on show

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  function describeProblem(problem, where) {
    const lines = [(where ? where + ": " : "") + (problem.detail || problem.error || JSON.stringify(problem))];
    for (const error of problem.errors || []) {
      lines.push("  " + (error.pointer || "(body)") + ": " + error.detail);
    }
    return lines.join("\n");
  }

  async function loadCatalog() {
    const response = await fetch("/losses", { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) {
      throw new Error(describeProblem(body, "GET /losses answered " + response.status));
    }
    catalog = {};
    for (const entry of body.losses) {
      catalog[entry.name] = entry;
    }
  }

  // Nested arrays: their shape, and an entry by its row-major (flat) index.

  function shapeOf(value) {
    const shape = [];
    let node = value;
    while (Array.isArray(node)) {
      shape.push(node.length);
      node = node[0];
    }
    return shape;
  }

  function locate(shape, flat) {
    const index = [];
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      index.unshift(flat % shape[axis]);
      flat = Math.floor(flat / shape[axis]);
    }
    return index;
  }

  function entryAt(value, index) {
    return index.reduce((node, i) => node[i], value);
  }

  function withEntry(value, index, x) {
    const copy = JSON.parse(JSON.stringify(value));
    const parent = entryAt(copy, index.slice(0, -1));
    parent[index[index.length - 1]] = x;
    return copy;
  }

  function size(shape) {
    return shape.reduce((a, b) => a * b, 1);
  }

  // The form, from the catalog entry.

  function paramField(param, value) {
    const label = document.createElement("label");
    const id = "param-" + param.name;
    let field;
    if (param.type === "boolean") {
      label.className = "check";
      field = document.createElement("input");
      field.type = "checkbox";
      field.checked = Boolean(value);
    } else if (param.choices) {
      field = document.createElement("select");
      for (const choice of param.choices) {
        const option = document.createElement("option");
        option.value = choice;
        option.textContent = choice;
        option.selected = choice === value;
        field.append(option);
      }
    } else if (param.type === "number" || param.type === "integer") {
      field = document.createElement("input");
      field.type = "number";
      field.step = param.type === "integer" ? "1" : "any";
      field.value = value === null || value === undefined ? "" : String(value);
    } else {
      field = document.createElement("input");
      field.type = "text";
      field.value = value === null || value === undefined ? "" : JSON.stringify(value);
    }
    field.id = id;
    field.dataset.param = param.name;
    field.dataset.kind = param.type;
    label.append(param.name + (param.nullable ? " (empty: null)" : ""), field);
    label.title = param.description;
    return label;
  }

  function readParams() {
    const params = {};
    for (const field of $("params").querySelectorAll("[data-param]")) {
      const name = field.dataset.param;
      const kind = field.dataset.kind;
      if (kind === "boolean") {
        params[name] = field.checked;
      } else if (field.tagName === "SELECT") {
        params[name] = field.value;
      } else if (field.value.trim() === "") {
        params[name] = null;
      } else if (kind === "number" || kind === "integer") {
        params[name] = Number(field.value);
      } else {
        try {
          params[name] = JSON.parse(field.value);
        } catch (error) {
          params[name] = Number(field.value); // "number or array of numbers": a bare number
        }
      }
    }
    return params;
  }

  function readInputs() {
    const inputs = {};
    for (const area of $("inputs").querySelectorAll("textarea")) {
      if (area.value.trim() === "") {
        continue; // an optional input left out
      }
      try {
        inputs[area.dataset.input] = JSON.parse(area.value);
      } catch (error) {
        throw new Error(area.dataset.input + " is not valid JSON: " + error.message);
      }
    }
    return inputs;
  }

  function defaultRange() {
    const name = $("sweep-input").value;
    const value = readInputs()[name];
    const shape = shapeOf(value);
    const flat = Math.min(Number($("sweep-index").value) || 0, size(shape) - 1);
    const x = Number(entryAt(value, locate(shape, flat)));
    const input = current.inputs.find((item) => item.name === name);
    const probability = /probabilit/.test(input.description) && x > 0 && x < 1;
    const [from, to] = probability ? [0.01, 0.99] : [x - 3, x + 3];
    $("sweep-from").value = String(Math.round(from * 1000) / 1000);
    $("sweep-to").value = String(Math.round(to * 1000) / 1000);
  }

  function select(name) {
    current = catalog[name];
    for (const button of document.querySelectorAll("button.loss")) {
      button.setAttribute("aria-pressed", String(button.dataset.loss === name));
    }
    $("loss-name").textContent = current.name;
    $("loss-summary").textContent = current.summary;
    $("loss-reference").textContent = current.reference;
    const formula = document.querySelector('button.loss[data-loss="' + name + '"] .formula');
    $("loss-formula").replaceChildren(formula.cloneNode(true));

    const example = current.example.request;
    const sweep = $("sweep-input");
    sweep.replaceChildren();
    for (const input of current.inputs.filter((item) => item.differentiable && item.name in example)) {
      const option = document.createElement("option");
      option.value = input.name;
      option.textContent = input.name;
      sweep.append(option);
    }
    $("sweep-index").value = "0";

    const inputs = $("inputs");
    inputs.replaceChildren(inputs.querySelector("legend") || document.createElement("legend"));
    inputs.querySelector("legend").textContent = "Inputs (JSON)";
    for (const input of current.inputs) {
      const label = document.createElement("label");
      label.className = "input";
      const area = document.createElement("textarea");
      area.id = "input-" + input.name;
      area.dataset.input = input.name;
      area.rows = 2;
      area.value = input.name in example ? JSON.stringify(example[input.name]) : "";
      const shape = "(" + input.shape.join(", ") + ")" + (input.required ? "" : ", optional");
      label.append(input.name + " " + shape + (input.differentiable ? ", differentiable" : ""), area);
      label.title = input.description;
      inputs.append(label);
    }

    const params = $("params");
    params.replaceChildren(params.querySelector("legend") || document.createElement("legend"));
    params.querySelector("legend").textContent = current.params.length ? "Params" : "Params (none)";
    const given = example.params || {};
    for (const param of current.params) {
      params.append(paramField(param, param.name in given ? given[param.name] : param.default));
    }
    $("reduction-note").textContent = current.scalar
      ? "Each point is the loss of the whole batch (its only reduction, mean) and its gradient with respect to the swept entry."
      : "Each point is the sum of the loss over the batch (reduction sum) and its gradient with respect to the swept entry.";

    defaultRange();
    clearError();
    $("plot").hidden = true;
    $("request").hidden = true;
    $("detail").hidden = false;
    if (location.hash !== "#" + name) {
      history.replaceState(null, "", "#" + name);
    }
  }

  // Plotting.

  function request() {
    const inputs = readInputs();
    const params = readParams();
    const name = $("sweep-input").value;
    const base = inputs[name];
    const shape = shapeOf(base);
    const flat = Number($("sweep-index").value);
    if (!Number.isInteger(flat) || flat < 0 || flat >= size(shape)) {
      throw new Error("the entry must be a flat index in [0, " + (size(shape) - 1) + "] of " + name);
    }
    const index = locate(shape, flat);
    const from = Number($("sweep-from").value);
    const to = Number($("sweep-to").value);
    const points = Math.round(Number($("sweep-points").value));
    if (!(Number.isFinite(from) && Number.isFinite(to) && from < to)) {
      throw new Error("the range needs a From below its To");
    }
    if (!(points >= 2 && points <= 201)) {
      throw new Error("between 2 and 201 points");
    }
    const xs = [];
    for (let k = 0; k < points; k++) {
      xs.push(from + ((to - from) * k) / (points - 1));
    }
    const reduction = current.scalar ? "mean" : "sum";
    const items = xs.map((x) => ({
      loss: current.name,
      ...inputs,
      [name]: withEntry(base, index, x),
      params: params,
      reduction: reduction,
      return_grad: true,
    }));
    return { sweep: { input: name, flat: flat, index: index, xs: xs }, body: { items: items } };
  }

  function showRequest(body) {
    const url = location.origin + "/batch";
    const json = JSON.stringify(body);
    $("request-curl").textContent =
      "curl -s -X POST " + url + " -H 'Content-Type: application/json' -d '" + json.replace(/'/g, "'\\''") + "'";
    $("request-js").textContent =
      "const response = await fetch(" + JSON.stringify(url) + ", {\n" +
      '  method: "POST",\n' +
      '  headers: { "Content-Type": "application/json" },\n' +
      "  body: JSON.stringify(" + JSON.stringify(body, null, 2).replace(/\n/g, "\n  ") + "),\n" +
      "});\nconst { results } = await response.json();";
    $("request").hidden = false;
  }

  function ticks(low, high, count) {
    const step = (high - low) / (count - 1);
    return Array.from({ length: count }, (_, k) => low + k * step);
  }

  function label(value) {
    const magnitude = Math.abs(value);
    return magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4) ? value.toExponential(2) : String(Number(value.toFixed(4)));
  }

  function panel(svg, top, height, xs, ys, title, cssClass) {
    const left = 70;
    const right = 620;
    let low = Math.min(...ys);
    let high = Math.max(...ys);
    if (low === high) {
      low -= 1;
      high += 1;
    }
    const x = (value) => left + ((value - xs[0]) / (xs[xs.length - 1] - xs[0])) * (right - left);
    const y = (value) => top + height - ((value - low) / (high - low)) * height;
    const add = (tag, attributes, text) => {
      const node = document.createElementNS(svgNamespace, tag);
      for (const [key, value] of Object.entries(attributes)) {
        node.setAttribute(key, String(value));
      }
      if (text !== undefined) {
        node.textContent = text;
      }
      svg.append(node);
      return node;
    };
    for (const value of ticks(low, high, 4)) {
      add("line", { class: "grid", x1: left, x2: right, y1: y(value), y2: y(value) });
      add("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, label(value));
    }
    add("line", { class: "axis", x1: left, x2: left, y1: top, y2: top + height });
    add("line", { class: "axis", x1: left, x2: right, y1: top + height, y2: top + height });
    add("text", { x: left, y: top - 6 }, title);
    const points = xs.map((value, k) => x(value).toFixed(2) + "," + y(ys[k]).toFixed(2)).join(" ");
    add("polyline", { class: cssClass, points: points });
    return x;
  }

  function draw(sweep, losses, grads) {
    const svg = $("plot-svg");
    svg.replaceChildren();
    const entry = sweep.input + "[" + sweep.index.join(", ") + "]";
    panel(svg, 24, 150, sweep.xs, losses, "loss", "loss-line");
    const x = panel(svg, 224, 150, sweep.xs, grads, "d loss / d " + entry, "grad-line");
    for (const value of ticks(sweep.xs[0], sweep.xs[sweep.xs.length - 1], 5)) {
      const text = document.createElementNS(svgNamespace, "text");
      text.setAttribute("x", String(x(value)));
      text.setAttribute("y", "396");
      text.setAttribute("text-anchor", "middle");
      text.textContent = label(value);
      svg.append(text);
    }
    const axis = document.createElementNS(svgNamespace, "text");
    axis.setAttribute("x", "345");
    axis.setAttribute("y", "414");
    axis.setAttribute("text-anchor", "middle");
    axis.textContent = entry;
    svg.append(axis);
    svg.dataset.plot = JSON.stringify({ loss: current.name, input: sweep.input, flat: sweep.flat, x: sweep.xs, value: losses, grad: grads });
    $("plot-caption").textContent =
      current.name + ": the loss (solid) and its gradient (dashed) against " + entry + ", " +
      sweep.xs.length + " points computed by this service.";
    $("plot").hidden = false;
  }

  async function plot(event) {
    event.preventDefault();
    clearError();
    let sent;
    try {
      sent = request();
    } catch (error) {
      showError(error.message);
      return;
    }
    showRequest(sent.body);
    let response;
    let answer;
    try {
      response = await fetch("/batch", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(sent.body),
      });
      answer = await response.json();
    } catch (error) {
      showError("the service could not be reached: " + error.message);
      return;
    }
    if (!response.ok) {
      showError(describeProblem(answer, "POST /batch answered " + response.status));
      return;
    }
    const failed = answer.results.findIndex((result) => result.status !== 200);
    if (failed >= 0) {
      const where = "at " + sent.sweep.input + " = " + label(sent.sweep.xs[failed]) + ", the service answered " + answer.results[failed].status;
      showError(describeProblem(answer.results[failed].problem, where));
      $("plot").hidden = true;
      return;
    }
    const losses = answer.results.map((result) => result.result.loss);
    const grads = answer.results.map((result) => {
      const gradient = result.result.grad[sent.sweep.input];
      return entryAt(gradient, sent.sweep.index);
    });
    draw(sent.sweep, losses, grads);
  }

  async function start() {
    try {
      await loadCatalog();
    } catch (error) {
      showError(error.message);
      $("detail").hidden = false;
      return;
    }
    for (const button of document.querySelectorAll("button.loss")) {
      button.addEventListener("click", () => {
        select(button.dataset.loss);
        $("loss-name").focus();
      });
    }
    $("loss-name").tabIndex = -1;
    $("controls").addEventListener("submit", plot);
    $("sweep-input").addEventListener("change", defaultRange);
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted in catalog) {
      select(wanted);
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
