// SPDX-License-Identifier: Apache-2.0
/*
 * A tiny libvmm program built outside the vmm tree with pkg-config: prints the library version
 * and, given the test payload (firmware/payload.elf) and a usable /dev/kvm, boots it with
 * payload=hello and checks that the guest said hello and powered off.
 *
 *   usage: vmm-example [PAYLOAD_ELF]      exit 0: fine, 1: the guest run failed
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vmm/vmm.h>

struct console {
	pthread_mutex_t lock;
	char buf[4096];
	size_t len;
};

static void on_console(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (len > sizeof(c->buf) - 1 - c->len)
		len = sizeof(c->buf) - 1 - c->len;
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = '\0';
	pthread_mutex_unlock(&c->lock);
}

int main(int argc, char **argv)
{
	struct console con = { .lock = PTHREAD_MUTEX_INITIALIZER };
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	struct vmm_config cfg;
	struct vmm *vm;
	int fd, ret;

	printf("libvmm %s\n", vmm_version());
	if (argc < 2)
		return 0;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("no usable /dev/kvm: not booting %s\n", argv[1]);
		return 0;
	}
	close(fd);

	vmm_config_init(&cfg);
	cfg.kernel = argv[1];
	cfg.cmdline = "payload=hello";
	cfg.mem_bytes = 32ull << 20;
	cfg.timeout_ms = 60000;
	cfg.console_out = on_console;
	cfg.console_opaque = &con;
	ret = vmm_create(&cfg, &vm);
	if (ret) {
		fprintf(stderr, "vmm_create: %s\n", strerror(-ret));
		return 1;
	}
	ret = vmm_start(vm);
	if (ret == 0)
		ret = vmm_wait(vm, -1, &why);
	vmm_destroy(vm);
	if (ret) {
		fprintf(stderr, "vmm_start/vmm_wait: %s\n", strerror(-ret));
		return 1;
	}
	printf("the guest stopped: %s\n", vmm_exit_reason_str(why));
	if (why != VMM_EXIT_POWEROFF || !strstr(con.buf, "payload: hello from the guest")) {
		fprintf(stderr, "unexpected run; console:\n%s\n", con.buf);
		return 1;
	}
	printf("hello line seen\n");
	return 0;
}
