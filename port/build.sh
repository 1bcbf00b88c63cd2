#!/usr/bin/env bash
# The native runner (docs/PORTING.md): wasm2c's C of the metered build, the generated
# glue, port/runner.c and wabt's runtime, compiled with gcc into
# build/native/{metered,release}/holdup-native. Needs Debian's wabt (wasm2c, wasm-rt-impl.c) and gcc.
set -euo pipefail
cd "$(dirname "$0")/.."
rt=/usr/share/wabt/wasm2c
build_runner() { # $1: metered or release, $2: the wasm
out=build/native/$1
mkdir -p "$out"
wasm2c "$2" -o "$out/firmware.c" -n firmware
node port/gen-stubs.mjs "$out/firmware.h" "$out"
# Explicit bounds checks (no guard pages or signal handler): as on an MCU. Our code
# compiles clean with -Wall -Werror; wasm2c's output is taken as it comes.
flags=(-O2 -std=gnu11 -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0 -I "$out" -I port -I "$rt")
gcc "${flags[@]}" -Wall -Werror -c port/runner.c -o "$out/runner.o"
gcc "${flags[@]}" -w -c "$out/hal_stubs.c" -o "$out/hal_stubs.o"
gcc "${flags[@]}" -w -c "$out/firmware.c" -o "$out/firmware.o"
gcc "${flags[@]}" -w -c "$rt/wasm-rt-impl.c" -o "$out/wasm-rt-impl.o"
gcc "$out/runner.o" "$out/hal_stubs.o" "$out/firmware.o" "$out/wasm-rt-impl.o" -o "$out/holdup-native" -lm
echo "native runner ($1): $out/holdup-native"
}
build_runner metered build/firmware.metered.wasm
build_runner release build/firmware.wasm
