#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Disk benchmark, the part that runs where /dev/kvm runs stock kernels: inside the nested test host
# (busybox sh, as /extra/run-inside.sh) or directly on a VMX/SVM machine. Makes a raw image on
# tmpfs, filled with data, then boots the same guest (Debian's cloud kernel, the test initramfs with
# fio appended, rdinit=/bench-fio.sh) under our vmm and under QEMU, each with the image as a
# virtio-blk PCI disk, 1 vCPU, 512 MiB. The guest runs six fio jobs on /dev/vda. Prints:
#   @@BLK-INFO ...                                  conditions
#   @@BLK vmm|qemu round=N JOB iops=.. bw_kib=.. lat_us=..   one per job, from the guest's @@FIO lines
#   @@BLK-RUN vmm|qemu round=N result_ms=.. exit_ms=.. rss_kib=.. status=.. user_ms=.. sys_ms=.. ok=..
#   @@BLK-DONE rounds=N
# Caching: the host side of both uses the same mode. O_DIRECT where the image's file system takes
# it (QEMU cache=none, vmm direct=on); tmpfs before Linux 6.6 refuses O_DIRECT, so there both use
# the host page cache (QEMU cache=writeback, vmm direct=off). QEMU uses aio=io_uring like vmm.
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  KERNEL=/guest/vmlinuz  INITRD=/extra/bench-initramfs.gz  BOOTWATCH=/extra/bootwatch
#   FW=/extra/fw (QEMU -L)  QEMU=qemu-system-x86_64  QEMU_MACHINE=microvm,rtc=on,pcie=on
#   IMG_DIR=/tmp (a tmpfs)  IMG_MB=512  RUNTIME=10 (s per fio job)  ROUNDS=1  TMPDIR=/tmp
#   CACHE=auto|direct|writeback
#   IOT=N  instead of QEMU: vmm with --io-threads N ("vmmio") against vmm with one ("vmm"), both with
#          2 vCPUs and two disks (the image and a copy), every job on both disks at once
VMM=${VMM:-/vmm/vmm}
KERNEL=${KERNEL:-/guest/vmlinuz}
INITRD=${INITRD:-/extra/bench-initramfs.gz}
BOOTWATCH=${BOOTWATCH:-/extra/bootwatch}
FW=${FW:-/extra/fw}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
IMG_DIR=${IMG_DIR:-/tmp}
IMG_MB=${IMG_MB:-512}
RUNTIME=${RUNTIME:-10}
ROUNDS=${ROUNDS:-1}
CACHE=${CACHE:-auto}
IOT=${IOT:-0}
T=${TMPDIR:-/tmp}
CMDLINE="console=ttyS0 reboot=k panic=-1 quiet rdinit=/bench-fio.sh bench.runtime=$RUNTIME"
[ "$IOT" = 0 ] || CMDLINE="$CMDLINE bench.disks=2"
# Six jobs of RUNTIME s plus 1 s ramp each, boot, fio start-up: a generous per-guest limit.
LIMIT=$((6 * (RUNTIME + 1) + 240))

for f in "$VMM" "$BOOTWATCH" "$KERNEL" "$INITRD" "$FW/bios-microvm.bin"; do
	[ -e "$f" ] || { echo "@@BLK-ERROR missing $f"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { echo "@@BLK-ERROR $QEMU not found"; exit 1; }
[ -c /dev/kvm ] || { echo "@@BLK-ERROR no /dev/kvm"; exit 1; }

IMG=$IMG_DIR/blk-bench.img
rm -f "$IMG"
# Fill the image with data (no holes: a hole in tmpfs reads as the shared zero page and is never
# allocated): 16 MiB from /dev/urandom, repeated.
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/urandom of="$T/blk-chunk" bs=1M count=16 2>/dev/null || { echo "@@BLK-ERROR cannot read /dev/urandom"; exit 1; }
i=0
while [ $((i * 16)) -lt "$IMG_MB" ]; do cat "$T/blk-chunk"; i=$((i + 1)); done >"$IMG" ||
	{ echo "@@BLK-ERROR cannot write the ${IMG_MB} MiB image in $IMG_DIR"; rm -f "$IMG" "$T/blk-chunk"; exit 1; }
rm -f "$T/blk-chunk"
if [ "$IOT" != 0 ]; then
	cp "$IMG" "$IMG.2" || { echo "@@BLK-ERROR cannot copy the image for the second disk"; rm -f "$IMG" "$IMG.2"; exit 1; }
fi
t1=$(cut -d' ' -f1 /proc/uptime)

if [ "$CACHE" = auto ]; then
	if dd if="$IMG" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then CACHE=direct; else CACHE=writeback; fi
fi
case $CACHE in
direct) QCACHE=none VDIRECT=on ;;
writeback) QCACHE=writeback VDIRECT=off ;;
*) echo "@@BLK-ERROR CACHE=$CACHE is not auto, direct or writeback"; exit 1 ;;
esac
fstype=$(awk -v d="$IMG_DIR" '$2 == d { t = $3 } END { print t ? t : "?" }' /proc/mounts)

echo "@@BLK-INFO kernel=$(uname -r) cpus=$(nproc) mem_mib=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)" \
	"image=${IMG_MB}MiB fs=$fstype fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
	"cache=$CACHE (qemu cache=$QCACHE, vmm direct=$VDIRECT) runtime=${RUNTIME}s rounds=$ROUNDS io_threads=$IOT"
echo "@@BLK-INFO vmm=$("$VMM" --version 2>&1 | head -1)"
echo "@@BLK-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE"

# one WHICH ROUND: boot the guest once under WHICH; prints its @@BLK lines, and the console's tail
# when something failed.
one() {
	out=$T/blk-$1.out
	case $1 in
	vmm | vmmio)
		# With IOT: 2 vCPUs, the image and its copy, one I/O thread (vmm) or IOT of them (vmmio).
		cpus=1 extra=
		if [ "$IOT" != 0 ]; then
			cpus=2 extra="--io-threads $([ "$1" = vmm ] && echo 1 || echo "$IOT") --disk $IMG.2,direct=$VDIRECT"
		fi
		# shellcheck disable=SC2086 # extra: several words (IMG_DIR has no spaces)
		line=$("$BOOTWATCH" -t "$LIMIT" -o "$out" @@FIO-DONE -- \
			"$VMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 512M --cpus "$cpus" --console=stdio \
			--disk "$IMG,direct=$VDIRECT" $extra --cmdline "$CMDLINE") ;;
	qemu)
		line=$("$BOOTWATCH" -t "$LIMIT" -o "$out" @@FIO-DONE -- \
			"$QEMU" -M "$QEMU_MACHINE" -accel kvm -cpu host -m 512M -smp 1 -nodefaults -no-user-config \
			-nographic -serial stdio -no-reboot -L "$FW" \
			-kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE" \
			-drive "file=$IMG,if=none,id=d0,format=raw,aio=io_uring,cache=$QCACHE" \
			-device virtio-blk-pci,drive=d0) ;;
	esac
	tr -d '\r' <"$out" >"$out.txt"
	sed -n 's/^@@FIO-INFO /@@BLK-GUEST '"$1"' /p' "$out.txt" | head -1
	sed -n 's/^@@FIO \(.*\)/@@BLK '"$1 round=$2"' \1/p' "$out.txt"
	sed -n 's/^@@FIO-ERROR /@@BLK-FAIL '"$1 round=$2"' /p' "$out.txt"
	ok=$(sed -n 's/^@@FIO-DONE ok=\([0-9]*\).*/\1/p' "$out.txt" | head -1)
	echo "@@BLK-RUN $1 round=$2 $line ok=${ok:-0}"
	case "$line" in
	*" status=0 "*) [ "${ok:-0}" = 6 ] || bad=1 ;;
	*) bad=1 ;;
	esac
	if [ "${bad:-0}" = 1 ]; then
		echo "@@BLK-FAIL $1 round=$2: console tail follows"
		tail -n 25 "$out.txt"
		echo "@@BLK-FAIL-END"
	fi
	bad=0
	rm -f "$out" "$out.txt"
}

i=1
while [ "$i" -le "$ROUNDS" ]; do
	# Alternate which one goes first.
	other=qemu
	[ "$IOT" = 0 ] || other=vmmio
	if [ $((i % 2)) = 1 ]; then one vmm "$i"; one $other "$i"; else one $other "$i"; one vmm "$i"; fi
	i=$((i + 1))
done
rm -f "$IMG" "$IMG.2"
echo "@@BLK-DONE rounds=$ROUNDS"
