/**
 * A client a TypeScript team would write against the service: types generated from the committed
 * OpenAPI document (openapi-typescript), calls made with openapi-fetch. `tsc` must accept it as it
 * is (a request the document does not allow would not compile), then it runs against the live
 * service and checks the numbers against its own arithmetic.
 *
 *   node build/client.js http://127.0.0.1:8000
 */
import createClient from "openapi-fetch";
import type { paths } from "./build/api.js";

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8000";
const client = createClient<paths>({ baseUrl });

function check(condition: boolean, message: string): void {
  if (!condition) {
    console.error(`FAIL ${message}`);
    process.exit(1);
  }
  console.log(`ok   ${message}`);
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
}

// mse with its gradient: typed request body, typed answer.
const mse = await client.POST("/losses/mse", {
  body: { y_true: [[0, 1], [1, 0]], y_pred: [[0.5, 1], [1, 2]], reduction: "mean", return_grad: true },
});
check(mse.response.status === 200 && mse.data !== undefined, "POST /losses/mse answers 200");
const mseLoss = mse.data?.loss as number;
check(close(mseLoss, (0.25 + 0 + 0 + 4) / 4), `mse loss ${mseLoss} = 1.0625`);
const gradient = mse.data?.grad?.y_pred as number[][];
check(close(gradient[1]![1]!, (2 * 2) / 4), "d mse / d y_pred[1][1] = 1");

// huber with a param, summed.
const huber = await client.POST("/losses/huber", {
  body: { y_true: [[0, 0]], y_pred: [[0.5, -3]], params: { delta: 1 }, reduction: "sum" },
});
check(huber.response.status === 200 && close(huber.data?.loss as number, 0.125 + 2.5), "huber sum = 2.625");

// sparse categorical cross-entropy on logits: class indices are integers in the generated types.
const logits = [[2, 0, -1]];
const sce = await client.POST("/losses/sparse_categorical_crossentropy", {
  body: { y_true: [0], y_pred: logits, params: { from_logits: true } },
});
const z = logits[0]!;
const expected = -z[0]! + Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
check(sce.response.status === 200 && close(sce.data?.loss as number, expected), `sparse CE = ${expected}`);

// A problem is typed too: a 422 with a JSON pointer to the bad param.
const bad = await client.POST("/losses/huber", { body: { y_true: [[0]], y_pred: [[1]], params: { delta: -1 } } });
check(bad.response.status === 422 && bad.error !== undefined, "a negative delta is a 422");
check((bad.error?.errors ?? []).some((e) => e.pointer === "/params/delta"), "its pointer is /params/delta");

// The catalog, with the worked example of every loss.
const catalog = await client.GET("/losses");
check(catalog.response.status === 200 && (catalog.data?.losses.length ?? 0) > 30, "GET /losses lists the losses");
for (const entry of catalog.data?.losses ?? []) {
  if (entry.example.response["name"] !== entry.name) {
    check(false, `${entry.name}'s example answer names the loss`);
  }
}
console.log("all checks passed");
