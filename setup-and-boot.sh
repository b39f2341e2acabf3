#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install what is needed, build vmm, fetch the default guest (Debian's cloud kernel + a busybox
# initramfs) and boot it: a shell on the terminal, or, without a terminal, `uname -a` and power-off.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-deps.sh
cmake -S . -B build/plain >/dev/null
cmake --build build/plain -j"$(nproc)"
bash tests/guest/build-assets.sh build/plain/guest
VMM=build/plain/vmm G=build/plain/guest
if [ -t 0 ] && [ -t 1 ]; then what="shell"; else what="uname"; fi
case $(bash scripts/kvm-mode.sh) in
direct)
	if [ $what = shell ]; then
		echo "Booting Debian's cloud kernel with a busybox shell; Ctrl-A x quits."
		exec "$VMM" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 512M --cpus 2
	fi
	exec "$VMM" --kernel "$G/vmlinuz" --initrd "$G/initramfs.gz" --mem 512M --cpus 2 --timeout 120 \
		--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmmtest=uname" ;;
*)
	echo "This machine's /dev/kvm cannot run a stock kernel (PVM or absent): running the same demo inside the nested test host (QEMU software SVM)."
	exec bash tests/host/run-demo.sh "$VMM" "$G" "$what" ;;
esac
