#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Disk benchmark, the guest side. The kernel runs this as PID 1 (rdinit=/bench-fio.sh): it lives in
# the second archive that bench/blk/run.sh appends to the test initramfs (tests/guest/), with
# /usr/bin/fio and its libraries. It mounts the basics, loads the virtio modules, waits for
# /dev/vda, runs six fio jobs on it (O_DIRECT, no file system) and prints one line per job:
#   @@FIO NAME iops=N bw_kib=N lat_us=X          (lat_us: mean completion+submission latency)
# then "@@FIO-DONE ok=N failed=N" and powers off. Kernel command line parameters:
#   bench.runtime=SECONDS  per job (default 10)   bench.ramp=SECONDS  not counted, before each (1)
#   bench.engine=io_uring|libaio|auto  (default auto: io_uring when it works here, else libaio)
#   bench.sched=none|mq-deadline|...   the guest's I/O scheduler for vda (default none)
#   bench.disks=1|2  2: every job runs on /dev/vda and /dev/vdb at once, reported as one (their sum)
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
	echo "@@FIO-ERROR $*"
	echo "@@FIO-DONE ok=0 failed=1"
	power_off
}

runtime=10 ramp=1 engine=auto sched=none disks=1
# shellcheck disable=SC2013 # the words of the command line
for w in $(cat /proc/cmdline); do
	case $w in
	bench.runtime=*) runtime=${w#*=} ;;
	bench.ramp=*) ramp=${w#*=} ;;
	bench.engine=*) engine=${w#*=} ;;
	bench.sched=*) sched=${w#*=} ;;
	bench.disks=*) disks=${w#*=} ;;
	esac
done

while read -r m; do
	insmod "/lib/modules/$m.ko" 2>/dev/null || echo "bench-fio: insmod $m failed"
done </lib/modules/virtio.order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || die "no /dev/vda (virtio devices: $(ls /sys/bus/virtio/devices 2>/dev/null | tr '\n' ' '))"
if [ "$disks" = 2 ]; then
	i=0
	while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -b /dev/vdb ] || die "bench.disks=2 but no /dev/vdb"
	[ ! -w /sys/block/vdb/queue/scheduler ] || echo "$sched" >/sys/block/vdb/queue/scheduler 2>/dev/null
fi
[ -x /usr/bin/fio ] || die "no /usr/bin/fio (the bench archive was not unpacked?)"
/usr/bin/fio --version >/tmp/v 2>&1 || die "fio does not start: $(head -c 300 /tmp/v)"
if [ -w /sys/block/vda/queue/scheduler ]; then echo "$sched" >/sys/block/vda/queue/scheduler 2>/dev/null; fi

FIO="/usr/bin/fio --direct=1 --output-format=terse --terse-version=3"
if [ "$engine" = auto ]; then
	engine=libaio
	$FIO --name=probe --filename=/dev/vda --ioengine=io_uring --rw=read --bs=4k --size=64k >/tmp/probe 2>&1 &&
		engine=io_uring
fi
# The job sections: one per disk, their results summed (--group_reporting).
FILES="--name=vda --filename=/dev/vda"
[ "$disks" != 2 ] || FILES="$FILES --name=vdb --filename=/dev/vdb --group_reporting"
echo "@@FIO-INFO $(cat /tmp/v) kernel=$(uname -r) cpus=$(nproc) engine=$engine runtime=${runtime}s ramp=${ramp}s disks=$disks" \
	"vda_bytes=$(($(cat /sys/block/vda/size) * 512)) queues=$(ls /sys/block/vda/mq 2>/dev/null | wc -l)" \
	"sched=$(cat /sys/block/vda/queue/scheduler 2>/dev/null | tr ' ' ',')" \
	"uptime=$(cut -d' ' -f1 /proc/uptime)"

ok=0 failed=0
# job NAME RW BS IODEPTH: one fio job; terse v3 fields: read bw 7, iops 8, lat mean 40;
# write bw 48, iops 49, lat mean 81 (KiB/s, IO/s, microseconds).
job() {
	# shellcheck disable=SC2086
	if $FIO --ioengine="$engine" --rw="$2" --bs="$3" --iodepth="$4" \
		--runtime="$runtime" --ramp_time="$ramp" --time_based $FILES >/tmp/out 2>/tmp/err; then
		case $2 in
		*write*) b=48 ;;
		*) b=7 ;;
		esac
		iops='' bw='' lat=''
		read -r iops bw lat <<EOF
$(awk -F';' -v b="$b" '$1 == 3 { print $(b + 1), $b, $(b + 33); exit }' /tmp/out)
EOF
		if [ -n "$lat" ]; then
			echo "@@FIO $1 iops=$iops bw_kib=$bw lat_us=$lat"
			ok=$((ok + 1))
			return
		fi
	fi
	echo "@@FIO-ERROR $1: $(head -c 400 /tmp/err) $(head -c 200 /tmp/out)"
	failed=$((failed + 1))
}
job randread-4k-qd1 randread 4k 1
job randread-4k-qd32 randread 4k 32
job randwrite-4k-qd1 randwrite 4k 1
job randwrite-4k-qd32 randwrite 4k 32
job read-1m-qd8 read 1M 8
job write-1m-qd8 write 1M 8
echo "@@FIO-DONE ok=$ok failed=$failed uptime=$(cut -d' ' -f1 /proc/uptime)"
power_off
