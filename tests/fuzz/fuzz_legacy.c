// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_legacy: the port-I/O register files a guest reaches on every x86 VM: the 16550A UART
 * (src/devices/serial.c, with a fake console backend that runs short of room), the CMOS RTC
 * (rtc.c, over a fake clock), the i8042 (i8042.c), the ACPI PM registers (pm.c), the GED (ged.c),
 * the reset control port 0xcf9 (cf9.c) and the boot-timer port (boot_timer.c), registered on a
 * port bus (src/bus.c) at the ports and lengths vm.c uses, accessed as a vCPU's PIO exit does.
 *
 * Input: u8 backend room (bytes the fake console takes before it is full; 0: unlimited), u64 clock
 * (seconds, modulo the year 10000), then operations until the input ends, u8 op:
 *   bits 0-2: 0 read, 1 write: u8 device, u8 offset (a port from one below the device's range to
 *     two past its end), u32 value; the width 1, 2, 4, 4 from bits 3-4;
 *   2 serial_receive(u8 len, bytes); 3 give the backend u8 bytes of room and serial_tx_ready();
 *   4 the clock advances u32 seconds; 5 ged_power_button(); 6 the backend is emptied;
 *   7 the clock jumps to u64 (modulo the year 10000).
 * Checked beyond the sanitizers: a read fills no byte past its width; the interrupt lines only
 * ever take levels 0 and 1.
 */
#include "bus.h"
#include "devices/boot_timer.h"
#include "devices/cf9.h"
#include "devices/ged.h"
#include "devices/i8042.h"
#include "devices/pm.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "fuzz.h"

#define COM1 0x3f8
#define YEAR_10000 253402300800ll /* 10000-01-01T00:00:00Z */

struct state {
	struct bus pio;
	/* The fake console: takes up to room bytes, then is full until given more. */
	size_t room, held;
	bool unlimited, wants;
	int64_t clock;
	unsigned events;
};

static const struct {
	uint16_t base, len;
} ports[] = {
	{ COM1, 8 }, { 0x70, 2 }, { 0x60, 1 }, { 0x64, 1 }, { PM_IO_BASE, PM_IO_LEN }, { GED_IO_BASE, GED_IO_LEN },
	{ CF9_PORT, 1 }, { BOOT_TIMER_PORT, BOOT_TIMER_LEN },
};

static size_t be_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct state *s = opaque;
	size_t n = s->unlimited || len <= s->room - s->held ? len : s->room - s->held;
	volatile uint8_t sink = 0;

	for (size_t i = 0; i < n; i++)
		sink ^= buf[i];
	(void)sink;
	if (!s->unlimited)
		s->held += n;
	return n;
}

static bool be_room(void *opaque, size_t n)
{
	struct state *s = opaque;

	return s->unlimited || s->room - s->held >= n;
}

static void be_want_room(void *opaque, size_t n)
{
	struct state *s = opaque;

	(void)n;
	s->wants = true; /* answered by op 3 or 6 (never from here: the UART's lock is held) */
}

static void be_rx_room(void *opaque)
{
	(void)opaque;
}

static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque, (void)gsi;
	FUZZ_CHECK(level == 0 || level == 1);
}

static int64_t clock_now(void *opaque)
{
	return ((struct state *)opaque)->clock;
}

static void count_event(void *opaque)
{
	((struct state *)opaque)->events++;
}

static void pm_event(void *opaque, enum pm_event ev)
{
	(void)ev;
	count_event(opaque);
}

static void boot_mark(void *opaque, uint8_t value, uint64_t ns)
{
	(void)value, (void)ns;
	count_event(opaque);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);
	struct state s = { 0 };
	const struct irq_line com_irq = { .set = irq_set, .opaque = &s, .gsi = 4 };
	const struct irq_line ged_irq = { .set = irq_set, .opaque = &s, .gsi = GED_GSI };
	const struct serial_backend be = { .write = be_write, .room = be_room, .want_room = be_want_room,
					   .rx_room = be_rx_room, .opaque = &s };
	struct serial *com;
	struct rtc *rtc;
	struct i8042 *kbd;
	struct pm *pm;
	struct ged *ged;
	struct cf9 *cf9;
	struct boot_timer *bt;
	int ret;

	s.room = fz_u8(&f);
	s.unlimited = s.room == 0;
	s.clock = (int64_t)(fz_u64(&f) % YEAR_10000);
	com = serial_create(&com_irq, &be);
	rtc = rtc_create(clock_now, &s);
	kbd = i8042_create(count_event, &s);
	pm = pm_create(pm_event, &s);
	ged = ged_create(&ged_irq);
	cf9 = cf9_create(count_event, &s);
	bt = boot_timer_create(boot_mark, &s);
	bus_init(&s.pio);
	if (!com || !rtc || !kbd || !pm || !ged || !cf9 || !bt)
		goto out;
	ret = bus_register(&s.pio, COM1, 8, serial_io, com, "serial");
	ret = ret ?: bus_register(&s.pio, 0x70, 2, rtc_io, rtc, "rtc");
	ret = ret ?: bus_register(&s.pio, 0x60, 1, i8042_data_io, kbd, "i8042-data");
	ret = ret ?: bus_register(&s.pio, 0x64, 1, i8042_cmd_io, kbd, "i8042-cmd");
	ret = ret ?: bus_register(&s.pio, PM_IO_BASE, PM_IO_LEN, pm_io, pm, "acpi-pm");
	ret = ret ?: bus_register(&s.pio, GED_IO_BASE, GED_IO_LEN, ged_io, ged, "acpi-ged");
	ret = ret ?: bus_register(&s.pio, CF9_PORT, 1, cf9_io, cf9, "cf9");
	ret = ret ?: bus_register(&s.pio, BOOT_TIMER_PORT, BOOT_TIMER_LEN, boot_timer_io, bt, "boot-timer");
	FUZZ_CHECK(ret == 0);

	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);

		switch (op & 7) {
		case 0:
		case 1: {
			unsigned dev = fz_u8(&f) % (sizeof(ports) / sizeof(ports[0]));
			uint64_t port = ports[dev].base + fz_u8(&f) % (ports[dev].len + 3u) - 1;
			static const uint32_t pio_width[4] = { 1, 2, 4, 4 };
			uint32_t len = pio_width[(op >> 3) & 3];
			uint8_t buf[8];
			uint32_t v = fz_u32(&f);

			memset(buf, 0xcc, sizeof(buf));
			if (op & 1) {
				memcpy(buf, &v, len);
				bus_dispatch(&s.pio, port, buf, len, true);
				break;
			}
			bus_dispatch(&s.pio, port, buf, len, false);
			for (uint32_t i = len; i < sizeof(buf); i++)
				FUZZ_CHECK(buf[i] == 0xcc); /* a read fills len bytes, no more */
			break;
		}
		case 2: {
			size_t n;
			const uint8_t *p = fz_take(&f, fz_u8(&f), &n);

			FUZZ_CHECK(serial_receive(com, p, n) <= n);
			break;
		}
		case 3:
			s.room += fz_u8(&f);
			s.wants = false;
			serial_tx_ready(com);
			break;
		case 4:
			s.clock = (s.clock + fz_u32(&f)) % YEAR_10000;
			break;
		case 5:
			ged_power_button(ged);
			break;
		case 6:
			s.held = 0;
			s.wants = false;
			serial_tx_ready(com);
			break;
		case 7:
			s.clock = (int64_t)(fz_u64(&f) % YEAR_10000);
			break;
		}
	}
out:
	bus_destroy(&s.pio);
	boot_timer_destroy(bt);
	cf9_destroy(cf9);
	ged_destroy(ged);
	pm_destroy(pm);
	i8042_destroy(kbd);
	rtc_destroy(rtc);
	serial_destroy(com);
	return 0;
}
