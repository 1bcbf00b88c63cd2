// npm run build:fw step: build/firmware.metered.wasm -> build/firmware.coop.wasm, the
// build the emulator runs when several MCUs share one clock (host/mcu_coop.ts).
//
// binaryen's asyncify pass lets the module's stack be unwound into a buffer inside any
// call to the three imports in which the firmware waits or yields, and rewound later;
// the pass is the one Emscripten uses for the same job, and binaryen comes with
// AssemblyScript. The metering is done first, so the cycles counted are the firmware's
// own: the code asyncify adds is the emulator's, not the MCU's. The release build
// (build/firmware.wasm) is untouched.
import { readFileSync, writeFileSync } from "node:fs";
import binaryen from "binaryen";

/** The imports inside which a suspension may happen (host/mcu_coop.ts). */
export const COOP_IMPORTS = ["hal.meter_tick", "hal.idle", "hal.delay_us"];

export function coop(input: Uint8Array): Uint8Array {
  const m = binaryen.readBinary(input);
  try {
    m.setFeatures(binaryen.Features.MVP | binaryen.Features.MutableGlobals |
      binaryen.Features.SignExt | binaryen.Features.NontrappingFPToInt);
    binaryen.setPassArgument("asyncify-imports", COOP_IMPORTS.join(","));
    binaryen.setOptimizeLevel(2);
    binaryen.setShrinkLevel(0);
    m.runPasses(["asyncify"]);
    m.optimize();
    if (!m.validate()) throw new Error("coop: the module does not validate after asyncify");
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

const [input, output] = process.argv.slice(2);
if (input && output) {
  const wasm = coop(readFileSync(input));
  writeFileSync(output, wasm);
  console.log(`coop ${output}: ${wasm.length} bytes`);
}
