// Does not compile, on purpose: tests/clients/test_typescript_client.py checks that tsc refuses it, so the
// generated types are known to constrain requests (a string where the schema wants numbers, a reduction
// the loss does not have).
import createClient from "openapi-fetch";
import type { paths } from "./build/api.js";

const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });
await client.POST("/losses/mse", { body: { y_true: "zero", y_pred: [[1]], reduction: "average" } });
