// A Node.js 20 client of the loss service, with no dependencies: built-in fetch, DataView, TextEncoder,
// and checks.mjs beside it.
//
//   node tests/clients/node_client.mjs http://127.0.0.1:PORT
//
// (a) POST /losses/mse in JSON with return_grad, checked against the loss and gradient computed here;
// (b) POST /v2/models/mse/infer with BINARY FP64 tensors (little-endian, after the JSON header,
//     Inference-Header-Content-Length set), outputs requested as binary, the response split by hand;
// (c) the same with FP32 tensors: FP32 outputs, checked to float32 precision against the JS maths;
//     (b) and (c) also equal POST /losses/mse (float64, float32) to the last bit;
// (d) an unknown model: 404 with {"error": ...}.
// Prints each check; exits 0 when all pass, 1 with a message on the first failure.

import { CheckFailed, check, close, mse, sameBits, SHAPE, TYPES, Y_PRED, Y_TRUE } from "./checks.mjs";

function allClose(actual, expected, rel, what) {
  check(actual.length === expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  expected.forEach((e, i) => close(actual[i], e, rel, `${what}[${i}]`));
}

async function post(url, body, headers) {
  let response;
  try {
    response = await fetch(url, { method: "POST", body, headers });
  } catch (error) {
    throw new CheckFailed(`POST ${url} failed: ${error.cause?.message ?? error.message}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { response, bytes };
}

// An inference request with every input binary: the JSON header, then each tensor's little-endian bytes.
function binaryRequest(inputs, datatype, outputs) {
  const type = TYPES[datatype];
  const header = {
    id: `node-${datatype}`,
    parameters: { return_grad: true },
    inputs: inputs.map(({ name, values, shape }) => ({
      name,
      shape,
      datatype,
      parameters: { binary_data_size: values.length * type.size },
    })),
    outputs: outputs.map((name) => ({ name, parameters: { binary_data: true } })),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const total = headerBytes.length + inputs.reduce((n, { values }) => n + values.length * type.size, 0);
  const body = new Uint8Array(total);
  body.set(headerBytes, 0);
  const view = new DataView(body.buffer);
  let at = headerBytes.length;
  for (const { values } of inputs) {
    for (const v of values) {
      type.set(view, at, v);
      at += type.size;
    }
  }
  return { body, headerLength: headerBytes.length };
}

// Split a binary response: the JSON header (its length in Inference-Header-Content-Length), then each
// binary output's binary_data_size bytes, in the order of the outputs.
function parseBinaryResponse(response, bytes) {
  const lengthHeader = response.headers.get("inference-header-content-length");
  check(lengthHeader !== null, "the response has no Inference-Header-Content-Length header");
  const headerLength = Number(lengthHeader);
  check(
    Number.isInteger(headerLength) && headerLength > 0 && headerLength <= bytes.length,
    `Inference-Header-Content-Length ${lengthHeader} does not fit a body of ${bytes.length} bytes`,
  );
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, headerLength)));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const outputs = {};
  let at = headerLength;
  for (const output of header.outputs) {
    const type = TYPES[output.datatype];
    check(type !== undefined, `output ${output.name} has datatype ${output.datatype}`);
    const size = output.parameters?.binary_data_size;
    check(Number.isInteger(size), `output ${output.name} is not binary: ${JSON.stringify(output)}`);
    const count = output.shape.reduce((a, b) => a * b, 1);
    check(size === count * type.size, `output ${output.name}: binary_data_size ${size} for shape [${output.shape}]`);
    check(at + size <= bytes.length, `output ${output.name} runs past the end of the body`);
    const values = [];
    for (let i = 0; i < count; i++) values.push(type.get(view, at + i * type.size));
    outputs[output.name] = { datatype: output.datatype, shape: output.shape, values };
    at += size;
  }
  check(at === bytes.length, `${bytes.length - at} bytes left after the last binary output`);
  return { header, outputs };
}


async function checkJsonApi(base, dtype) {
  const { response, bytes } = await post(
    `${base}/losses/mse`,
    JSON.stringify({ y_true: Y_TRUE, y_pred: Y_PRED, return_grad: true, dtype }),
    { "Content-Type": "application/json" },
  );
  const text = new TextDecoder().decode(bytes);
  check(response.status === 200, `POST /losses/mse (${dtype}) answered ${response.status}: ${text}`);
  const result = JSON.parse(text);
  check(result.dtype === dtype, `POST /losses/mse answered dtype ${result.dtype}, expected ${dtype}`);
  const [want, rel] = dtype === "float64" ? [mse(Y_TRUE, Y_PRED), 1e-12] : [mse(Y_TRUE, Y_PRED, Math.fround), 1e-6];
  close(result.loss, want.loss, rel, `JSON ${dtype} loss`);
  allClose(result.grad.y_pred.flat(), want.grad, rel, `JSON ${dtype} grad y_pred`);
  console.log(
    `ok (a) POST /losses/mse ${dtype}: loss ${result.loss} and its ${want.grad.length} gradient values ` +
      "match the JS maths",
  );
  return result;
}

async function checkBinary(base, datatype, jsonAnswer) {
  const inputs = [
    { name: "y_true", values: Y_TRUE.flat(), shape: SHAPE },
    { name: "y_pred", values: Y_PRED.flat(), shape: SHAPE },
  ];
  const { body, headerLength } = binaryRequest(inputs, datatype, ["loss", "grad_y_pred"]);
  const { response, bytes } = await post(`${base}/v2/models/mse/infer`, body, {
    "Content-Type": "application/octet-stream",
    "Inference-Header-Content-Length": String(headerLength),
  });
  if (response.status !== 200) {
    throw new CheckFailed(`binary ${datatype} infer answered ${response.status}: ${new TextDecoder().decode(bytes)}`);
  }
  const { header, outputs } = parseBinaryResponse(response, bytes);
  check(header.model_name === "mse", `model_name is ${header.model_name}`);
  check(header.id === `node-${datatype}`, `id is ${header.id}, expected node-${datatype}`);
  check(
    JSON.stringify(Object.keys(outputs)) === JSON.stringify(["loss", "grad_y_pred"]),
    `outputs are ${Object.keys(outputs)}`,
  );
  const { loss, grad_y_pred: grad } = outputs;
  check(loss.datatype === datatype && grad.datatype === datatype, `outputs are ${loss.datatype}/${grad.datatype}`);
  check(loss.shape.length === 0, `loss has shape [${loss.shape}], expected a scalar []`);
  check(JSON.stringify(grad.shape) === JSON.stringify(SHAPE), `grad_y_pred has shape [${grad.shape}]`);
  const [want, rel] =
    datatype === "FP64" ? [mse(Y_TRUE, Y_PRED), 1e-12] : [mse(Y_TRUE, Y_PRED, Math.fround), 1e-6];
  close(loss.values[0], want.loss, rel, `${datatype} loss`);
  allClose(grad.values, want.grad, rel, `${datatype} grad y_pred`);
  // The same engine answers both routes: the binary result is the JSON one, bit for bit.
  sameBits(loss.values, [jsonAnswer.loss], `${datatype} loss vs POST /losses/mse`);
  sameBits(grad.values, jsonAnswer.grad.y_pred.flat(), `${datatype} grad vs POST /losses/mse`);
  const letter = datatype === "FP64" ? "b" : "c";
  console.log(
    `ok (${letter}) POST /v2/models/mse/infer, binary ${datatype} in and out: header ${headerLength} bytes, ` +
      `loss ${loss.values[0]} and grad_y_pred [${grad.shape}] match`,
  );
}

async function checkUnknownModel(base) {
  const { response, bytes } = await post(
    `${base}/v2/models/no_such_model/infer`,
    JSON.stringify({ inputs: [{ name: "y_true", shape: [1], datatype: "FP64", data: [0] }] }),
    { "Content-Type": "application/json" },
  );
  check(response.status === 404, `an unknown model answered ${response.status}, expected 404`);
  const document = JSON.parse(new TextDecoder().decode(bytes));
  check(typeof document.error === "string" && document.error.length > 0, `404 body ${JSON.stringify(document)}`);
  console.log(`ok (d) an unknown model: 404 {"error": ${JSON.stringify(document.error.slice(0, 60))}...}`);
}

async function main() {
  const base = (process.argv[2] ?? "").replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+$/.test(base)) {
    throw new CheckFailed("usage: node tests/clients/node_client.mjs http://127.0.0.1:PORT");
  }
  const json64 = await checkJsonApi(base, "float64");
  const json32 = await checkJsonApi(base, "float32");
  await checkBinary(base, "FP64", json64);
  await checkBinary(base, "FP32", json32);
  await checkUnknownModel(base);
  console.log("all checks passed");
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`FAILED: ${error instanceof CheckFailed ? error.message : error.stack}`);
    process.exit(1);
  },
);
