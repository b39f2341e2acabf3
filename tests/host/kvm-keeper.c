// SPDX-License-Identifier: Apache-2.0
/*
 * kvm-keeper: holds one idle KVM VM (an in-kernel irqchip and one vCPU that never runs) for as
 * long as the nested test host is up (tests/host/init starts it).
 *
 * Why: KVM turns kernel static keys on and off as the first VM (preempt_notifier_key, checked in
 * __schedule) and the first vCPU's LAPIC (apic_sw_disabled) come and go, so a test that creates
 * and destroys VMs one after another (api.cycles) makes the test host patch its own scheduler's
 * code (int3 plus sync IPIs) every cycle. Under QEMU's multi-threaded TCG that was seen to
 * livelock every test-host CPU at __schedule's patch site, about once in six api.cycles runs.
 * With one VM always alive the keys stay on and nothing is patched. It changes nothing a test
 * can observe: each VM and process is on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = -1, vcpu;

	if (kvm < 0) {
		printf("@@HOST-WARNING kvm-keeper: /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	for (int tries = 0; tries < 100 && vm < 0; tries++)
		vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0 || (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0) {
		printf("@@HOST-WARNING kvm-keeper: cannot create its VM: %s\n", strerror(errno));
		return 1;
	}
	printf("@@HOST kvm-keeper holds an idle VM (vCPU fd %d)\n", vcpu);
	fflush(stdout);
	for (;;)
		pause();
}
