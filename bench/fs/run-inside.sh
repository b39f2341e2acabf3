#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Shared-folder benchmark, the part that runs where /dev/kvm runs stock kernels: inside the nested
# test host (busybox sh, as /extra/run-inside.sh) or directly on a VMX/SVM machine. Makes a folder
# on tmpfs with a file of BIG_MB MiB of data, then, per round, boots the same guest (Debian's cloud
# kernel, the test initramfs with fio and a tree appended, rdinit=/bench-fs.sh) under our vmm and
# under QEMU, each sharing the folder through a fresh QEMU C virtiofsd (-o cache=none, so every
# read and write crosses the queue), 1 vCPU, 512 MiB (QEMU: a shared memfd backend, as vmm uses).
# Prints:
#   @@FSB-INFO ...                                   conditions
#   @@FSB vmm|qemu round=N JOB key=value...          one per job, from the guest's @@FS lines
#   @@FSB-RUN vmm|qemu round=N result_ms=.. exit_ms=.. rss_kib=.. status=.. user_ms=.. sys_ms=.. ok=..
#   @@FSB-DONE rounds=N
# env (defaults are the test host's paths):
#   VMM=/vmm/vmm  KERNEL=/guest/vmlinuz  INITRD=/extra/bench-initramfs.gz  BOOTWATCH=/extra/bootwatch
#   VFSD=/extra/virtiofsd (else /usr/lib/qemu/virtiofsd)  FW=/extra/fw (QEMU -L)  QEMU=qemu-system-x86_64
#   QEMU_MACHINE=microvm,rtc=on,pcie=on  DIR=/tmp (a tmpfs)  BIG_MB=256  RUNTIME=10  ROUNDS=1  TMPDIR=/tmp
#   ONLY=JOB,JOB... (the guest's bench.only: those jobs alone; default all seven)
#   VMM_ARGS='...' (more vmm options, e.g. --stats --timeout 400: where a hung guest stopped)
VMM=${VMM:-/vmm/vmm}
KERNEL=${KERNEL:-/guest/vmlinuz}
INITRD=${INITRD:-/extra/bench-initramfs.gz}
BOOTWATCH=${BOOTWATCH:-/extra/bootwatch}
VFSD=${VFSD:-/extra/virtiofsd}
[ -x "$VFSD" ] || VFSD=/usr/lib/qemu/virtiofsd
FW=${FW:-/extra/fw}
QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MACHINE=${QEMU_MACHINE:-microvm,rtc=on,pcie=on}
DIR=${DIR:-/tmp}
BIG_MB=${BIG_MB:-256}
RUNTIME=${RUNTIME:-10}
ROUNDS=${ROUNDS:-1}
T=${TMPDIR:-/tmp}
ONLY=${ONLY:-}
# nokaslr: a hung guest's instruction pointer (vmm --stats --timeout) can be looked up in System.map.
CMDLINE="console=ttyS0 reboot=k panic=-1 quiet nokaslr rdinit=/bench-fs.sh bench.runtime=$RUNTIME${ONLY:+ bench.only=$ONLY}"
# The jobs a good boot reports.
JOBS=7
[ -z "$ONLY" ] || JOBS=$(echo "$ONLY" | tr ',' '\n' | grep -c .)
# Three fio jobs of RUNTIME s plus 1 s ramp each, the tree jobs, boot: a generous per-guest limit.
LIMIT=$((3 * (RUNTIME + 1) + 400))

for f in "$VMM" "$BOOTWATCH" "$KERNEL" "$INITRD" "$VFSD" "$FW/bios-microvm.bin"; do
	[ -e "$f" ] || { echo "@@FSB-ERROR missing $f"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { echo "@@FSB-ERROR $QEMU not found"; exit 1; }
[ -c /dev/kvm ] || { echo "@@FSB-ERROR no /dev/kvm"; exit 1; }

SHARE=$DIR/fs-bench-share
SOCK=$T/fs-bench.sock
rm -rf "$SHARE"
mkdir -p "$SHARE"
dd if=/dev/urandom of="$T/fs-chunk" bs=1M count=16 2>/dev/null || { echo "@@FSB-ERROR cannot read /dev/urandom"; exit 1; }
i=0
while [ $((i * 16)) -lt "$BIG_MB" ]; do cat "$T/fs-chunk"; i=$((i + 1)); done >"$SHARE/big" ||
	{ echo "@@FSB-ERROR cannot write the ${BIG_MB} MiB file in $DIR"; rm -rf "$SHARE" "$T/fs-chunk"; exit 1; }
rm -f "$T/fs-chunk"
fstype=$(awk -v d="$DIR" '$2 == d { t = $3 } END { print t ? t : "?" }' /proc/mounts)

echo "@@FSB-INFO kernel=$(uname -r) cpus=$(nproc) mem_mib=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)" \
	"big=${BIG_MB}MiB fs=$fstype runtime=${RUNTIME}s rounds=$ROUNDS virtiofsd=$VFSD cache=none jobs=${ONLY:-all}"
echo "@@FSB-INFO vmm=$("$VMM" --version 2>&1 | head -1)"
echo "@@FSB-INFO qemu=$("$QEMU" --version 2>&1 | head -1) machine=$QEMU_MACHINE"

# one WHICH ROUND: a fresh virtiofsd, then the guest once under WHICH; prints its @@FSB lines, and
# the console's tail when something failed.
one() {
	out=$T/fs-$1.out
	rm -f "$SOCK"
	"$VFSD" --socket-path="$SOCK" -o source="$SHARE" -o sandbox=chroot -o cache=none >"$T/vfsd.log" 2>&1 &
	vpid=$!
	w=0 # (not i: the rounds' counter is a global of this shell)
	until [ -S "$SOCK" ]; do
		w=$((w + 1))
		if [ $w -gt 100 ] || ! kill -0 $vpid 2>/dev/null; then
			echo "@@FSB-FAIL $1 round=$2: virtiofsd did not listen: $(tail -c 300 "$T/vfsd.log")"
			return
		fi
		sleep 0.1
	done
	case $1 in
	vmm)
		# shellcheck disable=SC2086 # VMM_ARGS: several options (run.sh admits no quoting in it)
		line=$("$BOOTWATCH" -t "$LIMIT" -o "$out" @@FS-DONE -- \
			"$VMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 512M --cpus 1 --console=stdio \
			--fs "tag=share,socket=$SOCK" --cmdline "$CMDLINE" $VMM_ARGS) ;;
	qemu)
		line=$("$BOOTWATCH" -t "$LIMIT" -o "$out" @@FS-DONE -- \
			"$QEMU" -M "$QEMU_MACHINE,memory-backend=mem" -accel kvm -cpu host -m 512M -smp 1 -nodefaults \
			-no-user-config -nographic -serial stdio -no-reboot -L "$FW" \
			-object memory-backend-memfd,id=mem,size=512M,share=on \
			-kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE" \
			-chardev "socket,id=vfs,path=$SOCK" -device vhost-user-fs-pci,chardev=vfs,tag=share) ;;
	esac
	# virtiofsd exits when the VMM hangs up (or it is stopped).
	(sleep 10; kill $vpid 2>/dev/null) &
	killer=$!
	wait $vpid
	kill $killer 2>/dev/null
	tr -d '\r' <"$out" >"$out.txt"
	sed -n 's/^@@FS-INFO /@@FSB-GUEST '"$1"' /p' "$out.txt" | head -1
	sed -n 's/^@@FS \(.*\)/@@FSB '"$1 round=$2"' \1/p' "$out.txt"
	sed -n 's/^@@FS-ERROR /@@FSB-FAIL '"$1 round=$2"' /p' "$out.txt"
	ok=$(sed -n 's/^@@FS-DONE ok=\([0-9]*\).*/\1/p' "$out.txt" | head -1)
	echo "@@FSB-RUN $1 round=$2 $line ok=${ok:-0}"
	bad=0
	case "$line" in
	*" status=0 "*) [ "${ok:-0}" = "$JOBS" ] || bad=1 ;;
	*) bad=1 ;;
	esac
	if [ $bad = 1 ]; then
		echo "@@FSB-FAIL $1 round=$2: console tail follows"
		tail -n 25 "$out.txt"
		tail -n 5 "$T/vfsd.log"
		echo "@@FSB-FAIL-END"
	fi
	rm -f "$out" "$out.txt" "$SHARE/written"
	rm -rf "$SHARE/tree"
}

i=1
while [ "$i" -le "$ROUNDS" ]; do
	# Alternate which one goes first.
	if [ $((i % 2)) = 1 ]; then one vmm "$i"; one qemu "$i"; else one qemu "$i"; one vmm "$i"; fi
	i=$((i + 1))
done
rm -rf "$SHARE" "$SOCK"
echo "@@FSB-DONE rounds=$ROUNDS"
