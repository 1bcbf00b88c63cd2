// npm run build:fw step: build/firmware.wasm -> build/firmware.metered.wasm
import { readFileSync, writeFileSync } from "node:fs";
import { meter } from "./instrument.js";

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node dist/host/meter/cli.js <in.wasm> <out.wasm>");
  process.exit(2);
}
const { wasm, report } = meter(readFileSync(input));
WebAssembly.validate(wasm) || (console.error("metered module does not validate"), process.exit(1));
writeFileSync(output, wasm);
console.log(
  `metered ${output}: ${report.functions} functions, ${report.blocks} blocks, ` +
  `${report.checks} checks, ${wasm.length} bytes`,
);
