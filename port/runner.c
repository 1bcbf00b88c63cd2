/* holdup's native runner: the firmware compiled by wasm2c, run outside V8, with every
 * HAL import turned into a message to the emulator over a pipe (docs/PORTING.md).
 *
 * The emulator (host/native.ts) keeps the board; this process keeps the firmware's
 * instance and its linear memory. Both sides keep a copy of the memory and send each
 * other the 256-byte chunks that changed since the last crossing, so the board's
 * devices read and write the firmware's buffers as they do in V8.
 *
 * Messages (little-endian), emulator -> runner:
 *   'M' u32 offset, u32 length, bytes      memory the board changed
 *   'C' u8 export, u64 deadline, u64 args   call an export (main, an irq_*, a getter)
 *   'V' u64 value, u64 deadline            a HAL call returns
 *   'U'                                    the HAL call threw: unwind the innermost export call
 *   'I'                                    a new instance (a boot): fresh memory and globals
 *   'Q'                                    exit
 * runner -> emulator:
 *   'M' as above                           memory the firmware changed
 *   'H' u8 import, u64 cycles, u64 args     the firmware calls a HAL import
 *   'R' u64 value, u64 cycles               an export returned
 *   'T' u32 trap, u64 cycles               an export trapped (wasm_rt_trap_t)
 *   'X' u64 cycles                         unwound after 'U'
 *
 * Calls nest: while the runner waits in a HAL call, the emulator may call an export
 * (an interrupt handler), which may call the HAL again. Each export call has its own
 * setjmp target, so a trap or an unwind ends that call only. A deadline comes with
 * every call and return: the metered build's __meter_set_deadline, set here. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firmware.h"
#include "wasm-rt-impl.h"
#include "runner.h"

/* Nested export calls at most (an interrupt inside a HAL call inside an interrupt). */
#define NEST_MAX 16
/* Memory is compared and sent in chunks of this many bytes. */
#define CHUNK_BYTES 256
#define UNWIND_CODE 0x7fff

static Z_firmware_instance_t inst;
static struct Z_hal_instance_t { int unused; } hal;
static int instantiated;
static int fd_in, fd_out;
static uint8_t *shadow;
static uint32_t shadow_bytes;
static int depth;

/* ---- buffered pipe I/O ------------------------------------------------------------ */

static uint8_t out_buf[1 << 16];
static size_t out_len;
static uint8_t in_buf[1 << 16];
static size_t in_pos, in_len;

static void die(const char *what) {
  fprintf(stderr, "holdup-native: %s (%s)\n", what, strerror(errno));
  exit(3);
}

static void flush_out(void) {
  size_t at = 0;
  while (at < out_len) {
    ssize_t n = write(fd_out, out_buf + at, out_len - at);
    if (n < 0) { if (errno == EINTR) continue; die("write"); }
    at += (size_t)n;
  }
  out_len = 0;
}

static void put(const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    if (out_len == sizeof out_buf) flush_out();
    size_t k = sizeof out_buf - out_len;
    if (k > n) k = n;
    memcpy(out_buf + out_len, b, k);
    out_len += k; b += k; n -= k;
  }
}
static void put_u8(uint8_t v) { put(&v, 1); }
static void put_u32(uint32_t v) { put(&v, 4); }
static void put_u64(uint64_t v) { put(&v, 8); }

static void get(void *p, size_t n) {
  uint8_t *b = p;
  while (n > 0) {
    if (in_pos == in_len) {
      flush_out();
      ssize_t r = read(fd_in, in_buf, sizeof in_buf);
      if (r < 0) { if (errno == EINTR) continue; die("read"); }
      if (r == 0) exit(0); /* the emulator is gone */
      in_pos = 0; in_len = (size_t)r;
    }
    size_t k = in_len - in_pos;
    if (k > n) k = n;
    memcpy(b, in_buf + in_pos, k);
    in_pos += k; b += k; n -= k;
  }
}
static uint8_t get_u8(void) { uint8_t v; get(&v, 1); return v; }
static uint32_t get_u32(void) { uint32_t v; get(&v, 4); return v; }
static uint64_t get_u64(void) { uint64_t v; get(&v, 8); return v; }

/* ---- memory ----------------------------------------------------------------------- */

static wasm_rt_memory_t *mem(void) { return Z_firmwareZ_memory(&inst); }

/* Send the chunks the firmware changed since the last crossing. */
static void send_changes(void) {
  wasm_rt_memory_t *m = mem();
  for (uint32_t at = 0; at < m->size; at += CHUNK_BYTES) {
    uint32_t n = m->size - at < CHUNK_BYTES ? m->size - at : CHUNK_BYTES;
    if (memcmp(m->data + at, shadow + at, n) != 0) {
      memcpy(shadow + at, m->data + at, n);
      put_u8('M'); put_u32(at); put_u32(n); put(m->data + at, n);
    }
  }
}

/* Take a chunk the board changed. */
static void take_change(void) {
  uint32_t at = get_u32(), n = get_u32();
  wasm_rt_memory_t *m = mem();
  if ((uint64_t)at + n > m->size) { errno = 0; die("memory change out of range"); }
  get(m->data + at, n);
  memcpy(shadow + at, m->data + at, n);
}

static uint64_t cycles(void) { return meter_cycles(&inst); }
static void set_deadline(uint64_t d) { meter_set_deadline(&inst, d); }

static void new_instance(void) {
  if (instantiated) Z_firmware_free(&inst);
  Z_firmware_instantiate(&inst, &hal);
  instantiated = 1;
  wasm_rt_memory_t *m = mem();
  shadow = realloc(shadow, m->size);
  if (!shadow) die("out of memory");
  shadow_bytes = m->size;
  memset(shadow, 0, m->size);
}

/* ---- calls ------------------------------------------------------------------------ */

static void serve(int in_hal_call, uint64_t *value);

/* Run export `id` with its own trap target; report how it ended. */
static void run_export(uint8_t id) {
  uint64_t deadline = get_u64();
  uint64_t args[EXPORT_ARGS_MAX];
  uint8_t nargs = export_arg_count(id);
  for (uint8_t i = 0; i < nargs; i++) args[i] = get_u64();
  if (depth >= NEST_MAX) { errno = 0; die("export calls nested too deep"); }
  /* The enclosing call's trap target and stack depth, back when this call ends. */
  jmp_buf saved;
  memcpy(saved, wasm_rt_jmp_buf, sizeof(jmp_buf));
  uint32_t saved_depth = wasm_rt_call_stack_depth;
  depth++;
  int code = setjmp(wasm_rt_jmp_buf);
  if (code == 0) {
    wasm_rt_saved_call_stack_depth = saved_depth;
    set_deadline(deadline);
    uint64_t r = export_call(&inst, id, args);
    depth--;
    memcpy(wasm_rt_jmp_buf, saved, sizeof(jmp_buf));
    send_changes();
    put_u8('R'); put_u64(r); put_u64(cycles());
    return;
  }
  depth--;
  memcpy(wasm_rt_jmp_buf, saved, sizeof(jmp_buf));
  wasm_rt_call_stack_depth = saved_depth;
  send_changes();
  if (code == UNWIND_CODE) { put_u8('X'); put_u64(cycles()); return; }
  put_u8('T'); put_u32((uint32_t)code); put_u64(cycles());
}

/* Serve the emulator's messages until a HAL return (in a HAL call) or forever. */
static void serve(int in_hal_call, uint64_t *value) {
  for (;;) {
    uint8_t type = get_u8();
    switch (type) {
      case 'M': take_change(); break;
      case 'C': run_export(get_u8()); break;
      case 'V': {
        uint64_t v = get_u64(), d = get_u64();
        if (!in_hal_call) { errno = 0; die("a HAL return outside a HAL call"); }
        set_deadline(d);
        *value = v;
        return;
      }
      case 'U':
        if (!in_hal_call || depth == 0) { errno = 0; die("an unwind outside a HAL call"); }
        longjmp(wasm_rt_jmp_buf, UNWIND_CODE);
      case 'I':
        if (in_hal_call) { errno = 0; die("a new instance inside a HAL call"); }
        new_instance();
        send_changes(); /* its data segments */
        put_u8('R'); put_u64(0); put_u64(0);
        break;
      case 'Q': flush_out(); exit(0);
      default: errno = 0; die("unknown message");
    }
  }
}

/* Every HAL import lands here (hal_stubs.c): the call goes to the emulator. */
uint64_t hal_call(uint8_t id, const uint64_t *args, uint8_t nargs) {
  send_changes();
  put_u8('H'); put_u8(id); put_u64(cycles());
  for (uint8_t i = 0; i < nargs; i++) put_u64(args[i]);
  uint64_t v = 0;
  serve(1, &v);
  return v;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: holdup-native IN_FIFO OUT_FIFO\n"); return 2; }
  fd_in = open(argv[1], O_RDONLY);
  if (fd_in < 0) die(argv[1]);
  fd_out = open(argv[2], O_WRONLY);
  if (fd_out < 0) die(argv[2]);
  wasm_rt_init();
  Z_firmware_init_module();
  serve(0, NULL);
  return 0;
}
