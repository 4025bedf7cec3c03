// Reads a JSON list of SOQL strings on stdin; prints a JSON list of true/false (parsed?).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(process.env.SOQL_PARSER_PREFIX + "/node_modules/");
const { isQueryValid } = require("@jetstreamapp/soql-parser-js");
const queries = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(queries.map((q) => isQueryValid(q))));
