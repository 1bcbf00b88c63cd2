/* wasm2c's runtime for an MCU with no OS (docs/PORTING.md): the firmware's linear
 * memory is one static array, a trap is a hard fault, nothing is allocated. It
 * replaces wabt's wasm-rt-impl.c (mmap, signals, malloc) in the Cortex-M4 build. */
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include "wasm-rt.h"

/* The firmware's 2 pages (asconfig.json initialMemory = maximumMemory = 2). */
#define MEMORY_PAGES_MAX 2
#define WASM_PAGE_BYTES 65536
/* Function signatures call_indirect compares (wasm2c registers each once). */
#define FUNC_TYPES_MAX 64
#define FUNC_TYPE_VALUES_MAX 12

static uint8_t linear_memory[MEMORY_PAGES_MAX * WASM_PAGE_BYTES] __attribute__((aligned(8)));
static bool initialized;
uint32_t wasm_rt_call_stack_depth;

/* The board's hard-fault path (port/mcu/startup.c): log the code, reset. */
extern void port_fault(uint32_t code) __attribute__((noreturn));

void wasm_rt_init(void) { initialized = true; }
bool wasm_rt_is_initialized(void) { return initialized; }

void wasm_rt_allocate_memory(wasm_rt_memory_t *m, uint32_t initial_pages, uint32_t max_pages) {
  if (initial_pages > MEMORY_PAGES_MAX) port_fault(WASM_RT_TRAP_OOB);
  m->data = linear_memory;
  m->pages = initial_pages;
  m->max_pages = max_pages < MEMORY_PAGES_MAX ? max_pages : MEMORY_PAGES_MAX;
  m->size = initial_pages * WASM_PAGE_BYTES;
  memset(linear_memory, 0, sizeof linear_memory);
}

void wasm_rt_free_memory(wasm_rt_memory_t *m) { (void)m; }

void wasm_rt_trap(wasm_rt_trap_t code) { port_fault((uint32_t)code); }

static struct { uint8_t params, results; uint8_t types[FUNC_TYPE_VALUES_MAX]; } func_types[FUNC_TYPES_MAX];
static uint32_t func_type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint8_t t[FUNC_TYPE_VALUES_MAX];
  if (params + results > FUNC_TYPE_VALUES_MAX) port_fault(WASM_RT_TRAP_EXHAUSTION);
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < params + results; i++) t[i] = (uint8_t)va_arg(ap, int);
  va_end(ap);
  for (uint32_t i = 0; i < func_type_count; i++) {
    if (func_types[i].params == params && func_types[i].results == results &&
        memcmp(func_types[i].types, t, params + results) == 0) return i + 1;
  }
  if (func_type_count == FUNC_TYPES_MAX) port_fault(WASM_RT_TRAP_EXHAUSTION);
  func_types[func_type_count].params = (uint8_t)params;
  func_types[func_type_count].results = (uint8_t)results;
  memcpy(func_types[func_type_count].types, t, params + results);
  return ++func_type_count;
}
