#!/usr/bin/env node
// holdup command line; the code is in host/cli.ts (built to dist/ by npm run build).
import { main } from "../dist/host/cli.js";
process.exitCode = await main(process.argv.slice(2));
