// Where the built firmware lives, and loading it.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** The project root: dist/host/firmware.js is two levels below it. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BUILD = join(ROOT, "build");

const cache = new Map<string, WebAssembly.Module>();

/** The metered firmware (build/firmware.metered.wasm, or the file HOLDUP_METERED
 * names: to run the tests against another build), compiled once per process. */
export function loadMetered(path = process.env.HOLDUP_METERED || join(BUILD, "firmware.metered.wasm")): WebAssembly.Module {
  let m = cache.get(path);
  if (!m) {
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch {
      throw new Error(`${path} is missing: run "npm run build" first`);
    }
    m = new WebAssembly.Module(bytes);
    cache.set(path, m);
  }
  return m;
}

export function readBuild(name: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(join(BUILD, name)));
}

/** The metered build with a preemption check before every store (HOLDUP_PREEMPT
 * names another), for the torture's preemption mode. */
export function loadFine(path = process.env.HOLDUP_PREEMPT || join(BUILD, "firmware.preempt.wasm")): WebAssembly.Module {
  return loadMetered(path);
}

/** Both metered builds, as the torture takes them. */
export function loadTortureModules(): { metered: WebAssembly.Module; fine: WebAssembly.Module } {
  return { metered: loadMetered(), fine: loadFine() };
}

/** The release build (build/firmware.wasm): no meter, so its time is only what its
 * HAL calls take, and interrupts are taken at HAL calls. What an MCU flashes. */
export function loadRelease(path = join(BUILD, "firmware.wasm")): WebAssembly.Module {
  return loadMetered(path);
}

/** The backup director's metered build (build/director.metered.wasm; seed 004). */
export function loadDirectorMetered(path = join(BUILD, "director.metered.wasm")): WebAssembly.Module {
  return loadMetered(path);
}

/** The metered build through asyncify (build/firmware.coop.wasm): what each MCU runs
 * when several share one clock (host/mcu_coop.ts). */
export function loadCoop(path = process.env.HOLDUP_COOP || join(BUILD, "firmware.coop.wasm")): WebAssembly.Module {
  return loadMetered(path);
}
