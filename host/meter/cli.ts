// npm run build:fw step: build/firmware.wasm -> build/firmware.metered.wasm, and with
// --fine the build the torture's preemption mode runs (a check before every store).
import { readFileSync, writeFileSync } from "node:fs";
import { meter } from "./instrument.js";

const args = process.argv.slice(2);
const fine = args.includes("--fine");
const [input, output] = args.filter((a) => !a.startsWith("--"));
if (!input || !output) {
  console.error("usage: node dist/host/meter/cli.js <in.wasm> <out.wasm> [--fine]");
  process.exit(2);
}
const { wasm, report } = meter(readFileSync(input), { fine });
WebAssembly.validate(wasm) || (console.error("metered module does not validate"), process.exit(1));
writeFileSync(output, wasm);
console.log(
  `metered ${output}: ${report.functions} functions, ${report.blocks} blocks, ` +
  `${report.checks} checks, ${wasm.length} bytes`,
);
