// The device half of the HAL (the MCU's own half is in mcu.ts): the power pins and the
// cap's ADC, the power switch, the SPI port to the EEPROM, the device bus, the host
// adapter's mailbox, the board straps, the firmware's log and its faults. Each call
// checks that it comes from the live firmware instance, brings the clock up to the
// firmware's cycles first, and sets the next deadline after.

import { FirmwareFault } from "./mcu.js";
import type { Board } from "./board.js";
import type { HalFunction } from "./mcu.js";
import { LOG_NAMES } from "./abi.js";

export function deviceImports(b: Board, gen: number): Record<string, HalFunction> {
  const mcu = b.mcu;
  const memRange = (addr: number, len: number) => addr >= 0 && len >= 0 && addr + len <= mcu.mem.length;
  /** A device call: from the live instance, the clock caught up before it, the
   * deadline set after it. */
  const call = <A extends unknown[], R>(fn: (...a: A) => R) => (...a: A): R => {
    mcu.enter(gen);
    const r = fn(...a);
    mcu.setDeadline();
    return r;
  };
  return {
    pfail_level: call(() => { b.onPfailRead?.(b.pfail); return b.pfail; }),
    cap_mv: call(() => b.cap.adc_mv(b.clock.now_ns)),
    cap_brownout_mv: () => { mcu.live(gen); return Math.round(b.cfg.power.v_min * 1000); },
    cap_learn: call((on: number) => {
      b.learnLoad = on !== 0;
      if (b.supplyGood) b.cap.setMode(on ? "learning" : "charging", b.clock.now_ns);
      b.trace(`cap learn ${on ? "on" : "off"}`);
    }),
    power_save_done: call(() => {
      b.trace("save done: cap disconnected");
      b.saveDone_ns = b.clock.now_ns;
      b.probe?.saveDone(b.clock.now_ns);
      if (!b.supplyGood) {
        b.cap.setMode("disconnected", b.clock.now_ns);
        b.brownout("save done");
      }
    }),
    spi_select: call((selected: number) => {
      b.probe?.spiSelect(b.clock.now_ns, selected !== 0);
      if (selected) {
        if (b.pfail === 0 && b.onEepromCommand) b.onEepromCommand(b.clock.now_ns);
        b.eeprom.select();
      } else b.eeprom.deselect();
      b.spiSelected = selected !== 0;
    }),
    spi_write: (addr: number, len: number) => {
      mcu.enter(gen);
      if (!memRange(addr, len)) { b.violations.push(`spi_write out of memory: ${addr}+${len}`); return; }
      if (!b.spiSelected) b.violations.push("spi_write with CS released: the bytes go nowhere");
      for (let i = 0; i < len; i++) {
        const miso = b.eeprom.transfer(mcu.mem[addr + i]);
        b.probe?.spiByte(b.clock.now_ns, b.spiByte_ns, mcu.mem[addr + i], miso);
        mcu.spend(b.spiByte_ns);
      }
      mcu.setDeadline();
    },
    spi_read: (addr: number, len: number) => {
      mcu.enter(gen);
      if (!memRange(addr, len)) { b.violations.push(`spi_read out of memory: ${addr}+${len}`); return; }
      if (!b.spiSelected) b.violations.push("spi_read with CS released: reads nothing");
      for (let i = 0; i < len; i++) {
        const v = b.eeprom.transfer(0);
        b.probe?.spiByte(b.clock.now_ns, b.spiByte_ns, 0, v);
        mcu.spend(b.spiByte_ns);
        mcu.mem[addr + i] = v;
      }
      mcu.setDeadline();
    },
    spi_xfer: call((out: number) => {
      const v = b.eeprom.transfer(out);
      b.probe?.spiByte(b.clock.now_ns, b.spiByte_ns, out, v);
      mcu.spend(b.spiByte_ns);
      return v;
    }),
    scsi_submit: call((target: number, tag: number, cdbAddr: number, cdbLen: number,
      dataAddr: number, dataBytes: number, dataOut: number, resultAddr: number) =>
      b.bus.submit(gen, target, tag, cdbAddr, cdbLen, [[dataAddr, dataBytes]], dataOut !== 0, resultAddr)),
    scsi_submit_sg: call((target: number, tag: number, cdbAddr: number, cdbLen: number,
      sgAddr: number, sgCount: number, dataOut: number, resultAddr: number) => {
      if (sgCount < 1 || sgCount > 64 || !memRange(sgAddr, sgCount * 8)) {
        b.violations.push(`scsi_submit_sg with a bad list: ${sgCount} entries at ${sgAddr}`);
        return -22;
      }
      const v = new DataView(mcu.mem.buffer);
      const sg: Array<[number, number]> = [];
      for (let i = 0; i < sgCount; i++) sg.push([v.getUint32(sgAddr + 8 * i, true), v.getUint32(sgAddr + 8 * i + 4, true)]);
      return b.bus.submit(gen, target, tag, cdbAddr, cdbLen, sg, dataOut !== 0, resultAddr);
    }),
    scsi_abort: call((tag: number) => b.bus.abort(gen, tag)),
    // Board straps (docs/HAL.md "config"): 0 the RAID level, 1 the array's members;
    // the director's 2 append threshold (%), 3 cartridge capacity (MiB), 4 replay
    // allowance (per mille), 5 the rate it takes writes at during a failover (KiB/s);
    // a pair's controller: 6 its identity (1 A, 2 B).
    config: (key: number) => {
      mcu.live(gen);
      if (key === 0) return b.cfg.raid;
      if (key === 1) return Math.max(0, b.cfg.disks - b.cfg.spares);
      if (key === 2) return b.cfg.append_threshold_pct;
      if (key === 3) return b.cfg.medium_mib;
      if (key === 4) return b.cfg.replay_allowance_permille;
      if (key === 5) return b.cfg.failover_accept_kib_s;
      if (key === 6) return b.cfg.identity;
      return 0;
    },
    link_send: call((link: number, addr: number, len: number) => b.links.send(link, addr, len)),
    link_carrier: (link: number) => { mcu.live(gen); return b.links.carrier(link); },
    host_complete: call((slot: number) => b.mailbox.complete(gen, slot)),
    log: (code: number, a: number, c: number) => {
      mcu.live(gen);
      const name = LOG_NAMES[code] ?? `log ${code}`;
      const line = `fw: ${name} ${a} ${c}`;
      b.probe?.log(b.clock.now_ns, code);
      b.trace(line);
      b.onLog?.(name, a, c);
      if (b.log.length < 10_000) b.log.push(`${(b.clock.now_ns / 1e6).toFixed(3)} ms ${line}`);
    },
    fault: (line: number, column: number, message: number, file: number) => {
      mcu.live(gen);
      const text = asString(mcu.mem, message), where = asString(mcu.mem, file);
      const msg = `firmware assertion failed at ${where ?? "line"} ${line}:${column}${text ? `: ${text}` : ""}`;
      b.faults.push(msg);
      throw new FirmwareFault(msg);
    },
  };
}

/** An AssemblyScript string in the firmware's memory (UTF-16LE, its byte length in the
 * 4 bytes before it, as the object header puts it); null for 0 or a pointer that does
 * not hold one. */
export function asString(mem: Uint8Array, ptr: number): string | null {
  ptr >>>= 0;
  if (ptr < 4 || ptr > mem.length || ptr % 2) return null;
  const bytes = new DataView(mem.buffer, mem.byteOffset).getUint32(ptr - 4, true);
  if (bytes % 2 || bytes > 4096 || ptr + bytes > mem.length) return null;
  return new TextDecoder("utf-16le").decode(mem.subarray(ptr, ptr + bytes));
}
