// A Node.js client of the loss service's Open Inference Protocol over gRPC, on @grpc/grpc-js and
// @grpc/proto-loader (tests/clients/package.json; `npm ci --prefix tests/clients` installs them).
//
//   node tests/clients/grpc_client.mjs http://127.0.0.1:HTTP_PORT 127.0.0.1:GRPC_PORT
//
// The messages come from the service's own service/rpc/protocol/grpc_predict_v2.proto, loaded at run time.
// (a) ServerLive, ServerReady, ServerMetadata and ModelMetadata for mse;
// (b) ModelInfer mse with FP64 tensors as little-endian bytes in raw_input_contents, return_grad: the loss
//     and gradient from raw_output_contents match the JS maths and POST /losses/mse (float64) to the last bit;
// (c) the same with FP32 tensors: FP32 outputs, float32 maths, and POST /losses/mse (float32) to the bit;
// (d) the FP64 tensors in the typed fp64_contents field instead: the same bits as (b);
// (e) an unknown model is NOT_FOUND and an invalid reduction INVALID_ARGUMENT, each with a message.
// Prints each check; exits 0 when all pass, 1 with a message on the first failure.

import path from "node:path";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

import { CheckFailed, check, close, mse, sameBits, SHAPE, TYPES, Y_PRED, Y_TRUE } from "./checks.mjs";

const PROTO = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../service/rpc/protocol/grpc_predict_v2.proto",
);
const DEADLINE_MS = 30_000;


function littleEndian(values, datatype) {
  const type = TYPES[datatype];
  const bytes = Buffer.alloc(values.length * type.size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  values.forEach((v, i) => type.set(view, i * type.size, v));
  return bytes;
}

function fromLittleEndian(bytes, datatype) {
  const type = TYPES[datatype];
  check(type !== undefined, `datatype ${datatype}`);
  check(bytes.length % type.size === 0, `${bytes.length} bytes of ${datatype}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / type.size }, (_, i) => type.get(view, i * type.size));
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + DEADLINE_MS }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

async function expectStatus(client, method, request, code, what) {
  try {
    await unary(client, method, request);
  } catch (error) {
    check(error.code === code, `${what}: status ${error.code} (${error.details}), expected ${code}`);
    check(typeof error.details === "string" && error.details.length > 0, `${what}: no message`);
    return error.details;
  }
  throw new CheckFailed(`${what}: the call succeeded`);
}

async function jsonAnswer(base, dtype) {
  let response;
  try {
    response = await fetch(`${base}/losses/mse`, {
      method: "POST",
      body: JSON.stringify({ y_true: Y_TRUE, y_pred: Y_PRED, return_grad: true, dtype }),
      headers: { "Content-Type": "application/json" },
    });
  } catch (error) {
    throw new CheckFailed(`POST ${base}/losses/mse failed: ${error.cause?.message ?? error.message}`);
  }
  const text = await response.text();
  check(response.status === 200, `POST /losses/mse (${dtype}) answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

async function checkMetadata(client) {
  const live = await unary(client, "ServerLive", {});
  const ready = await unary(client, "ServerReady", {});
  check(live.live === true && ready.ready === true, `live ${live.live}, ready ${ready.ready}`);
  const server = await unary(client, "ServerMetadata", {});
  check(server.name === "loss-service" && server.version.length > 0, `server metadata ${JSON.stringify(server)}`);
  const model = await unary(client, "ModelMetadata", { name: "mse" });
  const inputs = model.inputs.map((t) => `${t.name}:${t.datatype}`).join(",");
  check(model.name === "mse" && inputs === "y_true:FP64,y_pred:FP64", `model metadata ${JSON.stringify(model)}`);
  check(model.outputs.map((t) => t.name).join(",") === "loss,grad_y_pred", `outputs ${JSON.stringify(model.outputs)}`);
  console.log(`ok (a) ServerLive, ServerReady, ServerMetadata (${server.name} ${server.version}), ModelMetadata mse`);
}

function inferRequest(datatype, typed) {
  const tensor = (name, values) => {
    const input = { name, datatype, shape: SHAPE };
    if (typed) input.contents = { fp64_contents: values };
    return input;
  };
  const request = {
    model_name: "mse",
    id: `node-grpc-${datatype}${typed ? "-typed" : ""}`,
    parameters: { return_grad: { bool_param: true } },
    inputs: [tensor("y_true", Y_TRUE.flat()), tensor("y_pred", Y_PRED.flat())],
  };
  if (!typed) request.raw_input_contents = [littleEndian(Y_TRUE.flat(), datatype), littleEndian(Y_PRED.flat(), datatype)];
  return request;
}

function outputsOf(response, request) {
  check(response.model_name === "mse" && response.model_version === "1", `model ${response.model_name}`);
  check(response.id === request.id, `id ${response.id}, expected ${request.id}`);
  const names = response.outputs.map((o) => o.name);
  check(JSON.stringify(names) === JSON.stringify(["loss", "grad_y_pred"]), `outputs ${names}`);
  check(response.raw_output_contents.length === 2, `${response.raw_output_contents.length} raw outputs`);
  const outputs = {};
  response.outputs.forEach((o, i) => {
    outputs[o.name] = { ...o, values: fromLittleEndian(response.raw_output_contents[i], o.datatype) };
  });
  return outputs;
}

async function checkInfer(client, base, datatype, letter) {
  const request = inferRequest(datatype, false);
  const { loss, grad_y_pred: grad } = outputsOf(await unary(client, "ModelInfer", request), request);
  check(loss.datatype === datatype && grad.datatype === datatype, `outputs ${loss.datatype}/${grad.datatype}`);
  check(loss.shape.length === 0, `loss has shape [${loss.shape}], expected []`);
  check(JSON.stringify(grad.shape) === JSON.stringify(SHAPE), `grad_y_pred has shape [${grad.shape}]`);
  const [want, rel] = datatype === "FP64" ? [mse(Y_TRUE, Y_PRED), 1e-12] : [mse(Y_TRUE, Y_PRED, Math.fround), 1e-6];
  close(loss.values[0], want.loss, rel, `${datatype} loss`);
  grad.values.forEach((v, i) => close(v, want.grad[i], rel, `${datatype} grad_y_pred[${i}]`));
  const json = await jsonAnswer(base, datatype === "FP64" ? "float64" : "float32");
  sameBits(loss.values, [json.loss], `${datatype} loss vs POST /losses/mse`);
  sameBits(grad.values, json.grad.y_pred.flat(), `${datatype} grad vs POST /losses/mse`);
  console.log(
    `ok (${letter}) ModelInfer mse, ${datatype} raw_input_contents: loss ${loss.values[0]} and grad_y_pred ` +
      `[${grad.shape}] match the JS maths and POST /losses/mse to the bit`,
  );
  return { loss, grad };
}

async function checkTyped(client, raw) {
  const request = inferRequest("FP64", true);
  const { loss, grad_y_pred: grad } = outputsOf(await unary(client, "ModelInfer", request), request);
  sameBits(loss.values, raw.loss.values, "typed loss vs raw");
  sameBits(grad.values, raw.grad.values, "typed grad vs raw");
  console.log("ok (d) ModelInfer mse, FP64 in contents.fp64_contents: the same bits as raw_input_contents");
}

async function checkErrors(client) {
  const unknown = await expectStatus(
    client,
    "ModelInfer",
    { ...inferRequest("FP64", false), model_name: "no_such_model" },
    grpc.status.NOT_FOUND,
    "an unknown model",
  );
  const invalid = await expectStatus(
    client,
    "ModelInfer",
    { ...inferRequest("FP64", false), parameters: { reduction: { string_param: "average" } } },
    grpc.status.INVALID_ARGUMENT,
    "reduction average",
  );
  check(invalid.includes("reduction"), `the message does not name reduction: ${invalid}`);
  console.log(`ok (e) NOT_FOUND "${unknown.slice(0, 40)}...", INVALID_ARGUMENT "${invalid.slice(0, 40)}..."`);
}

async function main() {
  const base = (process.argv[2] ?? "").replace(/\/+$/, "");
  const address = process.argv[3] ?? "";
  if (!/^https?:\/\/[^/]+$/.test(base) || !/^[^/]+:\d+$/.test(address)) {
    throw new CheckFailed("usage: node tests/clients/grpc_client.mjs http://127.0.0.1:HTTP_PORT 127.0.0.1:GRPC_PORT");
  }
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true });
  const { inference } = grpc.loadPackageDefinition(definition);
  const client = new inference.GRPCInferenceService(address, grpc.credentials.createInsecure());
  try {
    await checkMetadata(client);
    const raw = await checkInfer(client, base, "FP64", "b");
    await checkInfer(client, base, "FP32", "c");
    await checkTyped(client, raw);
    await checkErrors(client);
  } finally {
    client.close();
  }
  console.log("all checks passed");
}

main().then(
  () => process.exit(0),
  (error) => {
    const message = error instanceof CheckFailed ? error.message : error.details ?? error.stack;
    console.error(`FAILED: ${message}`);
    process.exit(1);
  },
);
