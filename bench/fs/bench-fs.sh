#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Shared-folder benchmark, the guest side. The kernel runs this as PID 1 (rdinit=/bench-fs.sh): it
# lives in the archive that bench/fs/run.sh appends to the test initramfs (tests/guest/), with
# /usr/bin/fio, its libraries and /bench-tree.tar (a source-like tree). It loads the virtio, fuse
# and virtiofs modules, mounts the tag "share" at /mnt and runs, on files in it:
#   @@FS NAME bw_kib=N iops=N lat_us=X      fio: seqread-1m, randread-4k (QD1), seqwrite-1m (psync)
#   @@FS NAME ms=N                          untar (tar x of /bench-tree.tar into the share),
#                                           find (find | wc -l), du (du -s), rm (rm -rf of the tree)
# then "@@FS-DONE ok=N failed=N" and powers off. The host's /share/big (BIG_MB) must be there.
# Kernel command line: bench.runtime=SECONDS per fio job (default 10), bench.ramp=SECONDS (1),
# bench.only=NAME[,NAME...] (those jobs alone: to count a VMM's exits for one, or to give the tree
# jobs more rounds: bench.only=untar,find,du,rm; find, du and rm need untar before them).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp 2>/dev/null
[ -t 1 ] || exec </dev/console >/dev/console 2>&1

power_off() {
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger 2>/dev/null
	sleep 5
	while :; do sleep 3600; done # never let PID 1 exit (a panic)
}
die() {
	echo "@@FS-ERROR $*"
	echo "@@FS-DONE ok=0 failed=1"
	power_off
}

runtime=10 ramp=1 only=
# shellcheck disable=SC2013 # the words of the command line
for w in $(cat /proc/cmdline); do
	case $w in
	bench.runtime=*) runtime=${w#*=} ;;
	bench.ramp=*) ramp=${w#*=} ;;
	bench.only=*) only=${w#*=} ;;
	esac
done

{ cat /lib/modules/virtio.order; echo fuse; echo virtiofs; } | while read -r m; do
	insmod "/lib/modules/$m.ko" 2>/dev/null || echo "bench-fs: insmod $m failed"
done
mkdir -p /mnt
i=0
until mount -t virtiofs share /mnt 2>/tmp/merr; do
	i=$((i + 1))
	[ $i -lt 50 ] || die "mount -t virtiofs share failed: $(cat /tmp/merr)"
	sleep 0.1
done
[ -f /mnt/big ] || die "no file 'big' in the shared folder"
[ -x /usr/bin/fio ] || die "no /usr/bin/fio (the bench archive was not unpacked?)"
/usr/bin/fio --version >/tmp/v 2>&1 || die "fio does not start: $(head -c 300 /tmp/v)"
echo "@@FS-INFO $(cat /tmp/v) kernel=$(uname -r) cpus=$(nproc) runtime=${runtime}s ramp=${ramp}s" \
	"big_bytes=$(stat -c %s /mnt/big)" \
	"uptime=$(cut -d' ' -f1 /proc/uptime)"

ok=0 failed=0
# wanted NAME: is job NAME to run (bench.only)?
wanted() {
	case ",${only:-$1}," in
	*",$1,"*) return 0 ;;
	esac
	return 1
}
# fio_job NAME FILE RW BS: one psync fio job; terse v3 fields: read bw 7, iops 8, lat mean 40;
# write bw 48, iops 49, lat mean 81 (KiB/s, IO/s, microseconds).
fio_job() {
	wanted "$1" || return 0
	if /usr/bin/fio --name="$1" --filename="$2" --rw="$3" --bs="$4" --ioengine=psync --size=$(stat -c %s /mnt/big) \
		--runtime="$runtime" --ramp_time="$ramp" --time_based --output-format=terse --terse-version=3 \
		>/tmp/out 2>/tmp/err; then
		case $3 in
		*write*) b=48 ;;
		*) b=7 ;;
		esac
		iops='' bw='' lat=''
		read -r iops bw lat <<EOT
$(awk -F';' -v b="$b" '$1 == 3 { print $(b + 1), $b, $(b + 33); exit }' /tmp/out)
EOT
		if [ -n "$lat" ]; then
			echo "@@FS $1 bw_kib=$bw iops=$iops lat_us=$lat"
			ok=$((ok + 1))
			return
		fi
	fi
	echo "@@FS-ERROR $1: $(head -c 400 /tmp/err) $(head -c 200 /tmp/out)"
	failed=$((failed + 1))
}
# now_ms: the guest's clock in ms (10 ms steps).
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# timed NAME CMD...: run CMD (its output into /tmp/out), print its time.
timed() {
	name=$1
	shift
	wanted "$name" || return 0
	t0=$(now_ms)
	if "$@" >/tmp/out 2>/tmp/err; then
		echo "@@FS $name ms=$(($(now_ms) - t0)) out=$(head -c 60 /tmp/out | tr ' \t\n' '___')"
		ok=$((ok + 1))
	else
		echo "@@FS-ERROR $name: $(head -c 300 /tmp/err)"
		failed=$((failed + 1))
	fi
}
count_tree() { find /mnt/tree | wc -l; }

fio_job seqread-1m /mnt/big read 1M
fio_job randread-4k /mnt/big randread 4k
fio_job seqwrite-1m /mnt/written write 1M
rm -f /mnt/written
mkdir -p /mnt/tree
timed untar tar -xf /bench-tree.tar -C /mnt/tree
timed find count_tree
timed du du -s /mnt/tree
timed rm rm -rf /mnt/tree
echo "@@FS-DONE ok=$ok failed=$failed uptime=$(cut -d' ' -f1 /proc/uptime)"
umount /mnt
power_off
