// SPDX-License-Identifier: Apache-2.0
/*
 * api.cycles: 50 create/start/stop/destroy cycles (payload=hello to power-off, payload=hang with
 * vmm_request_stop(vm, 0)) must not leak file descriptors, threads, mappings or memory.
 * LeakSanitizer (the VMM_SANITIZE build) checks the heap at exit.
 * Usage: api_cycles PAYLOAD_ELF
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define API_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define API_ASAN 1
#endif
#endif
#ifdef API_ASAN
/* From <sanitizer/allocator_interface.h> (not installed everywhere): the live heap bytes. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include "common.h"

#define CYCLES 50
#define WARMUP 2 /* one cycle of each kind */
/* Guest RAM per VM: a leaked mapping is obvious in VmSize (48 x 64 MiB). */
#define GUEST_MEM (64ull << 20)

/*
 * The bounds, over the 48 cycles after the warm-up.
 * - Live heap bytes (glibc's mallinfo2(), or ASan's allocator): a VM frees all it allocated, so
 *   this comes back to the same value; 64 KiB allows for lazily grown caches (stdio, the
 *   allocator's own) and is still less than one struct vmm per 10 cycles. Smaller leaks are
 *   LeakSanitizer's job at exit (the sanitize build).
 * - RSS: a VM's own memory (the few guest pages the payload touched, the vCPU run areas, the
 *   io_uring rings, device state) is well under 1 MiB and thread stacks go back to glibc's stack
 *   cache, so after the warm-up RSS should stay flat; 8 MiB (170 KiB a cycle) allows for allocator
 *   fragmentation. Not checked under ASan: its quarantine keeps up to 256 MiB of freed blocks
 *   resident on purpose (to catch use after free), so RSS grows there by design.
 * - VmSize catches leaked mappings (untouched guest RAM does not count in RSS): one guest's RAM.
 *   glibc reserves 64 MiB of address space for each new per-thread malloc arena, as much as one
 *   guest's RAM, and whether a vCPU's or the I/O thread's first malloc makes a new one depends on
 *   timing (CI once saw VmSize +65536 KiB within the first 10 cycles after the warm-up, flat from
 *   then on): the test keeps glibc to one arena (M_ARENA_MAX), so a mapping that grows is ours.
 *   When the check fails, the mappings of 1 MiB or more are printed.
 */
#define HEAP_BOUND_BYTES (64 * 1024)
#define RSS_BOUND_KIB (8 * 1024)
#define VMSIZE_BOUND_KIB (GUEST_MEM / 1024)

static long heap_live(void)
{
#ifdef API_ASAN
	return (long)__sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	return (long)(mi.uordblks + mi.hblkhd);
#endif
}

static const char *payload;

/* The mappings of /proc/self/maps of 1 MiB or more (what a leaked guest RAM or arena looks like). */
static void print_big_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi - lo >= (1ul << 20))
			printf("mapping %lu KiB: %s", (hi - lo) >> 10, line);
	}
	fclose(f);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	REQUIRE(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static long status_field(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t klen = strlen(key);
	long v = -1;

	REQUIRE(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void cycle(int i)
{
	struct vmm_config cfg;
	struct capture con;
	struct events ev;
	struct vmm *vm;
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	bool hello = i % 2 == 0;
	int ret;

	capture_init(&con);
	events_init(&ev);
	api_payload_config(&cfg, payload, hello ? "payload=hello" : "payload=hang", 1 + (unsigned)(i % 3 == 0),
			   &con, &ev, NULL);
	cfg.mem_bytes = GUEST_MEM;
	cfg.log_level = VMM_LOG_WARN;
	ret = vmm_create(&cfg, &vm);
	if (ret) {
		printf("FATAL: cycle %d: vmm_create = %d (%s)\n", i, ret, strerror(-ret));
		exit(1);
	}
	CHECK_EQ(vmm_start(vm), 0);
	if (!hello) {
		/* Half of them stop at once (racing the start), half once the guest runs. */
		if (i % 4 == 1)
			CHECK(capture_wait(&con, "payload: spinning forever", 30000));
		CHECK_EQ(vmm_request_stop(vm, 0), 0);
	}
	CHECK_EQ(vmm_wait(vm, 60000, &why), 0);
	if (why != (hello ? VMM_EXIT_POWEROFF : VMM_EXIT_STOPPED)) {
		fprintf(stderr, "FAIL: cycle %d (%s): exit '%s'\n", i, cfg.cmdline, vmm_exit_reason_str(why));
		api_failures++;
	}
	if (hello)
		CHECK(capture_has(&con, "payload: hello from the guest"));
	CHECK_EQ(vmm_destroy(vm), 0);
	events_destroy(&ev);
	capture_destroy(&con);
}

int main(int argc, char **argv)
{
	long threads0, rss0, vmsize0, heap0, threads, rss, vmsize, heap;
	int fds0, fds;

	REQUIRE(argc == 2);
	payload = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	api_need_kvm("api.cycles");
#ifndef API_ASAN
	mallopt(M_ARENA_MAX, 1); /* see the bounds above: no 64 MiB arena reservations */
#endif

	for (int i = 0; i < WARMUP; i++)
		cycle(i);
	fds0 = count_fds();
	threads0 = status_field("Threads");
	rss0 = status_field("VmRSS");
	vmsize0 = status_field("VmSize");
	heap0 = heap_live();
	printf("after the warm-up: %d fds, %ld threads, VmRSS %ld KiB, VmSize %ld KiB, heap %ld bytes\n", fds0,
	       threads0, rss0, vmsize0, heap0);

	for (int i = WARMUP; i < CYCLES; i++) {
		cycle(i);
		if ((i + 1) % 10 == 0)
			printf("cycle %d: %d fds, %ld threads, VmRSS %ld KiB, VmSize %ld KiB, heap %ld bytes\n", i + 1,
			       count_fds(), status_field("Threads"), status_field("VmRSS"), status_field("VmSize"),
			       heap_live());
	}

	/* io_uring's kernel workers (iou-wrk) count as our threads and leave on their own: give them time. */
	for (int t = 0; t < 100 && status_field("Threads") != threads0; t++)
		api_sleep_ms(50);
	fds = count_fds();
	threads = status_field("Threads");
	rss = status_field("VmRSS");
	vmsize = status_field("VmSize");
	heap = heap_live();
	printf("after %d cycles: %d fds, %ld threads, VmRSS %ld KiB (%+ld), VmSize %ld KiB (%+ld), heap %ld (%+ld)\n",
	       CYCLES, fds, threads, rss, rss - rss0, vmsize, vmsize - vmsize0, heap, heap - heap0);
	CHECK_EQ(fds, fds0);
	CHECK_EQ(threads, threads0);
	CHECK(heap - heap0 < HEAP_BOUND_BYTES);
	/* Under Valgrind its own translations grow both sizes; memcheck checks the heap instead. */
	if (!api_under_valgrind()) {
#ifndef API_ASAN
		CHECK(rss - rss0 < RSS_BOUND_KIB);
#endif
		CHECK(vmsize - vmsize0 < (long)VMSIZE_BOUND_KIB);
		if (vmsize - vmsize0 >= (long)VMSIZE_BOUND_KIB)
			print_big_mappings();
	}
	return api_result("api.cycles");
}
