// holdup serve against a real initiator: libiscsi's conformance suite (iscsi-test-cu,
// Debian libiscsi-bin) on the SCSI tests for the commands the controller implements,
// beside tgt (Debian tgt, a well-known target) on the same list with the same
// initiator, in the same run when tgtd can start here (root), else against its count
// recorded in docs/PORTING.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServe, startTgt, runTestCu, HOLDUP_IQN } from "./iscsi_helpers.js";

/** The suites of the commands the controller implements (docs/HAL.md): TEST UNIT
 * READY, INQUIRY, READ CAPACITY (10)/(16), READ and WRITE (10)/(16), MODE SENSE,
 * START STOP UNIT; the mandatory SBC set; and iSCSI's own (CmdSN, DataSN, residuals,
 * task management). Not listed: commands it does not implement (READ (6)/(12), VERIFY,
 * WRITE SAME, UNMAP, COMPARE AND WRITE, persistent reservations, ...). */
export const SUITES = [
  "ALL.TestUnitReady", "ALL.Inquiry", "ALL.ReadCapacity10", "ALL.ReadCapacity16", "ALL.Read10", "ALL.Read16",
  "ALL.Write10", "ALL.Write16", "ALL.ModeSense6", "ALL.StartStopUnit", "ALL.Mandatory",
  "ALL.iSCSIcmdsn", "ALL.iSCSIdatasn", "ALL.iSCSIResiduals", "ALL.iSCSITMF",
].join(",");
/** tgt 1.0.85 (Debian 12) on this list, measured here on 2026-12-06: 58 of 59 (it fails
 * iSCSIdatasn.iSCSIDataSnInvalid). Used only where tgtd cannot run. */
const TGT_RECORDED = { passed: 58, of: 59 };

test("iscsi-test-cu passes at least as many of the listed tests on holdup serve as on tgt", async () => {
  const serve = await startServe(["--seed", "3", "--quiet"]);
  let holdup;
  try {
    holdup = runTestCu(`iscsi://127.0.0.1:${serve.port}/${HOLDUP_IQN}/0`, SUITES);
  } finally {
    await serve.stop();
  }
  const tgt = await startTgt();
  let reference = TGT_RECORDED.passed;
  let where = `tgt ${TGT_RECORDED.passed}/${TGT_RECORDED.of} (recorded)`;
  if (tgt) {
    try {
      const r = runTestCu(tgt.url, SUITES);
      reference = r.passed;
      where = `tgt ${r.passed}/${r.tests.size} (this run)`;
    } finally { tgt.stop(); }
  }
  const failed = [...holdup.tests].filter(([, ok]) => !ok).map(([k]) => k);
  console.log(`iscsi-test-cu: holdup ${holdup.passed}/${holdup.tests.size}, ${where}; holdup failed: ${failed.join(", ") || "none"}`);
  assert.ok(holdup.tests.size >= 50, `the suites ran (${holdup.tests.size} tests)`);
  assert.ok(holdup.passed >= reference, `holdup passed ${holdup.passed}, ${where}; failed: ${failed.join(", ")}`);
});
