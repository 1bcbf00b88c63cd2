#!/usr/bin/env bash
# The release firmware as a Cortex-M4 image (docs/PORTING.md): wasm2c's C (from
# port/build.sh), the MCU runtime and startup in port/mcu, built with Debian's
# gcc-arm-none-eabi; its flash and RAM, from arm-none-eabi-size, in build/m4/size.json
# (holdup bench reports them as port_flash_bytes and port_ram_bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
src=build/native/release
out=build/m4
mkdir -p "$out"
[ -f "$src/firmware.c" ] || bash port/build.sh
flags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -std=gnu11
  -ffunction-sections -fdata-sections -DNDEBUG -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0
  -I "$src" -I port -I /usr/src/wasm2c)
arm-none-eabi-gcc "${flags[@]}" -w -c "$src/firmware.c" -o "$out/firmware.o"
arm-none-eabi-gcc "${flags[@]}" -w -c "$src/hal_mcu.c" -o "$out/hal_mcu.o"
arm-none-eabi-gcc "${flags[@]}" -Wall -Werror -c port/mcu/wasm_rt_mcu.c -o "$out/wasm_rt_mcu.o"
arm-none-eabi-gcc "${flags[@]}" -Wall -Werror -c port/mcu/startup.c -o "$out/startup.o"
arm-none-eabi-gcc "${flags[@]}" -nostartfiles --specs=nano.specs -T port/mcu/link.ld -Wl,--gc-sections \
  "$out/startup.o" "$out/wasm_rt_mcu.o" "$out/hal_mcu.o" "$out/firmware.o" -o "$out/holdup-m4.elf"
read -r text data bss _ < <(arm-none-eabi-size "$out/holdup-m4.elf" | tail -1)
arm-none-eabi-size "$out/holdup-m4.elf"
printf '{"text":%d,"data":%d,"bss":%d,"flash_bytes":%d,"ram_bytes":%d}\n' \
  "$text" "$data" "$bss" $((text + data)) $((data + bss)) > "$out/size.json"
cat "$out/size.json"
