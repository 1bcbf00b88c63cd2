/* The runner's side of the generated stubs (port/gen-stubs.mjs writes hal_stubs.c). */
#ifndef HOLDUP_RUNNER_H
#define HOLDUP_RUNNER_H
#include <stdint.h>
#include "firmware.h"

#define EXPORT_ARGS_MAX 8

/* A HAL import, as a message to the emulator; returns the value it answers. */
uint64_t hal_call(uint8_t id, const uint64_t *args, uint8_t nargs);
/* Call export `id` (the numbering of exports in abi.json) with its arguments. */
uint64_t export_call(Z_firmware_instance_t *inst, uint8_t id, const uint64_t *args);
uint8_t export_arg_count(uint8_t id);
/* The metered build's counter and deadline (0 and nothing in the release build). */
uint64_t meter_cycles(Z_firmware_instance_t *inst);
void meter_set_deadline(Z_firmware_instance_t *inst, uint64_t deadline);
#endif
