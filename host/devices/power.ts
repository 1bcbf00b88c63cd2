// Power: the main supply, the PFAIL# pin, and the supercapacitor that holds the MCU
// and the EEPROM up after the supply fails (docs/BOARD.md "Power").
//
// The cap is an ideal capacitor with a constant load while it carries the board:
// energy E = C·V²/2 falls at P watts, so from V1 it reaches the brown-out voltage V2
// after t = C·(V1² − V2²)/(2P). While the supply is good it charges at constant
// current, from 0 V to full in `recharge_full_ns`. Ageing lowers C (`capacity_pct`).
// After the firmware says its save is done, the power switch disconnects the cap,
// which keeps its charge.

export interface PowerParams {
  /** Nominal capacitance, farads. */
  capacitance_f: number;
  /** Ageing: percent of nominal capacitance left (100 = new). */
  capacity_pct: number;
  /** Full charge voltage V1. */
  v_full: number;
  /** Brown-out voltage V2: below it the MCU and EEPROM stop. */
  v_min: number;
  /** Load while on the cap (MCU + EEPROM), watts. */
  load_w: number;
  /** Time to charge from 0 V to full. */
  recharge_full_ns: number;
  /** PFAIL# falls this long after the supply drops (docs/BOARD.md: a few µs). */
  pfail_delay_ns: number;
}

/** Defaults: 1.0 s of hold-up on a full cap (0.1 F, 5 V → 3 V at 0.8 W), full in 10 s. */
export const DEFAULT_POWER: PowerParams = {
  capacitance_f: 0.1,
  capacity_pct: 100,
  v_full: 5.0,
  v_min: 3.0,
  load_w: 0.8,
  recharge_full_ns: 10e9,
  pfail_delay_ns: 5_000,
};

/** charging: supply good, charger on. discharging: carrying the board after the
 * supply failed. learning: supply good, charger off, the learn load (drawing the
 * hold-up power P) on, so the firmware can time a known discharge. disconnected:
 * after the save, the cap keeps its charge. */
export type CapMode = "charging" | "discharging" | "learning" | "disconnected";

export class Supercap {
  private v: number;
  private since_ns: number;
  private mode: CapMode = "charging";

  constructor(readonly p: PowerParams, now_ns: number, initial_v = p.v_full) {
    this.v = initial_v;
    this.since_ns = now_ns;
  }

  get farads(): number { return this.p.capacitance_f * this.p.capacity_pct / 100; }
  get capMode(): CapMode { return this.mode; }

  /** Voltage at time t (t ≥ the last mode change). */
  voltageAt(t_ns: number): number {
    const dt_s = (t_ns - this.since_ns) / 1e9;
    if (this.mode === "charging") {
      return Math.min(this.p.v_full, this.v + dt_s * this.p.v_full / (this.p.recharge_full_ns / 1e9));
    }
    if (this.mode === "discharging" || this.mode === "learning") {
      const v2 = this.v * this.v - 2 * this.p.load_w * dt_s / this.farads;
      return Math.sqrt(Math.max(0, v2));
    }
    return this.v;
  }

  setMode(mode: CapMode, t_ns: number): void {
    this.v = this.voltageAt(t_ns);
    this.since_ns = t_ns;
    this.mode = mode;
  }

  /** Hold-up from voltage v: t = C·(v² − V2²)/(2P), in ns; 0 below V2. */
  holdupFrom_ns(v: number): number {
    if (v <= this.p.v_min) return 0;
    return this.farads * (v * v - this.p.v_min * this.p.v_min) / (2 * this.p.load_w) * 1e9;
  }

  /** The ADC on the cap: voltage in mV, rounded to 1 mV. */
  adc_mv(t_ns: number): number {
    return Math.round(this.voltageAt(t_ns) * 1000);
  }

  /** Hold-up the cap would give if the supply failed at t. */
  holdupAt_ns(t_ns: number): number {
    return this.holdupFrom_ns(this.voltageAt(t_ns));
  }
}
