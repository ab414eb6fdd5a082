// api/check/validate.mjs: validates an OpenAPI document the way a client
// generator would read it (@apidevtools/swagger-parser's validate(): the
// OpenAPI 3.1 schema, then every $ref resolved). Prints what is wrong and
// exits 1 if anything is.
//
//   node validate.mjs api/openapi.yaml
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs OPENAPI.yaml");
  process.exit(2);
}
try {
  const api = await SwaggerParser.validate(file);
  const ops = Object.values(api.paths).reduce(
    (n, item) => n + Object.keys(item).filter((k) => ["get", "put", "post", "delete", "patch"].includes(k)).length, 0);
  console.log(`${file}: valid OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths, ${ops} operations`);
} catch (e) {
  console.error(`${file}: not a valid OpenAPI document:\n${e.message}`);
  process.exit(1);
}
