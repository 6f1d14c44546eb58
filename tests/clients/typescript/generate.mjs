// Types for the TypeScript client, from the committed OpenAPI document, with openapi-typescript.
//
// Two choices a TypeScript team would make too:
// - defaultNonNullable: false. A field with a default may be left out of a request (openapi-typescript 7
//   otherwise makes every field that has a default required).
// - The tensors are recursive (a number, or an array of tensors). TypeScript cannot write that as an
//   interface property that refers to itself (TS2502), so the two tensor schemas become recursive type
//   aliases, which it can.
import fs from "node:fs";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const TENSORS = ["NumberTensor", "IntegerTensor"];
const document = new URL("../../../openapi/openapi.json", import.meta.url);
const ast = await openapiTS(document, {
  defaultNonNullable: false,
  transform(schema, options) {
    const name = TENSORS.find((tensor) => options.path === `#/components/schemas/${tensor}`);
    return name ? ts.factory.createTypeReferenceNode(name) : undefined;
  },
});
const aliases = TENSORS.map((name) => `export type ${name} = number | ${name}[];`).join("\n");
fs.mkdirSync(new URL("build/", import.meta.url), { recursive: true });
fs.writeFileSync(new URL("build/api.d.ts", import.meta.url), `${aliases}\n${astToString(ast)}`);
console.log("wrote build/api.d.ts");
