/* A Cortex-M4 image of the firmware (docs/PORTING.md), for its size: the vector table,
 * the reset handler that runs main(), the interrupt handlers that call the firmware's
 * irq_* exports. The board's drivers behind the HAL are the port's (hal_mcu.c, weak
 * and empty here), so the figures are the firmware and its runtime. */
#include <stdint.h>
#include "firmware.h"

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
static Z_firmware_instance_t instance;

void port_fault(uint32_t code) __attribute__((noreturn));
void port_fault(uint32_t code) {
  (void)code; /* a port logs it to its fault record before the reset */
  for (;;) {}
}

void Reset_Handler(void) {
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss; dst++) *dst = 0;
  wasm_rt_init();
  Z_firmware_init_module();
  Z_firmware_instantiate(&instance, 0);
  Z_firmwareZ_main(&instance);
  port_fault(0); /* main() never returns */
}

/* The board's interrupt sources (docs/HAL.md); a port reads the slot or tag from its
 * peripheral before the call. */
void EXTI0_IRQHandler(void) { Z_firmwareZ_irq_pfail(&instance); }
void SysTick_Handler(void) { Z_firmwareZ_irq_timer(&instance); }
void OTG_FS_IRQHandler(void) { Z_firmwareZ_irq_doorbell(&instance, 0); }
void SPI2_IRQHandler(void) { Z_firmwareZ_irq_scsi(&instance, 0); }
static void Default_Handler(void) { port_fault(0xffff); }

__attribute__((section(".isr_vector"), used))
static void (*const vectors[])(void) = {
  (void (*)(void))&_estack, Reset_Handler, Default_Handler, Default_Handler,
  [15] = SysTick_Handler,
  [16 + 6] = EXTI0_IRQHandler,
  [16 + 36] = SPI2_IRQHandler,
  [16 + 67] = OTG_FS_IRQHandler,
};
