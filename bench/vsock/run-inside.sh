#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# vsock benchmark, the part that runs where /dev/kvm runs stock kernels (the nested test host's
# /extra/run.sh, or directly). ROUNDS boots of the test guest (vmmtest=vsock-bench, 1 vCPU, 512 MiB)
# under vmm --vsock cid=3,uds=$T/v.sock. Each boot: the host sends MIB MiB through CONNECT 5000 to
# the guest's echo server and reads them back (timed here: every byte crosses twice, both ways at
# once), then the guest sends MIB MiB to the host's port 5001 (the unix socket v.sock_5001; timed in
# the guest). Prints
#   @@VSOCK round=N echo_bytes=.. echo_s=.. g2h_bytes=.. g2h_s=.. status=.. cpu_ticks=..
#   @@VSOCK-DONE
# env: VMM=/vmm/vmm VV=/extra/vmm-vsock KERNEL=/guest/vmlinuz INITRD=/guest/initramfs.gz MIB=256 ROUNDS=3
VMM=${VMM:-/vmm/vmm}
VV=${VV:-/extra/vmm-vsock}
KERNEL=${KERNEL:-/guest/vmlinuz}
INITRD=${INITRD:-/guest/initramfs.gz}
MIB=${MIB:-256}
ROUNDS=${ROUNDS:-3}
T=${TMPDIR:-/tmp}/vsock-bench
mkdir -p "$T"
now() { cut -d' ' -f1 /proc/uptime; }
r=1
while [ "$r" -le "$ROUNDS" ]; do
	rm -f "$T"/v.sock*
	log=$T/console.log
	: >"$log"
	"$VV" uds-listen "$T/v.sock_5001" >/dev/null 2>"$T/g2h.err" &
	lpid=$!
	"$VMM" --kernel "$KERNEL" --initrd "$INITRD" --mem 512M --console="file:$log" --timeout 900 \
		--vsock "cid=3,uds=$T/v.sock" \
		--cmdline "console=ttyS0 reboot=k panic=-1 quiet vmmtest=vsock-bench vmmtest.virtio=1 vmmtest.arg=$MIB vmmtest.timeout=800" \
		</dev/null 2>"$T/vmm.err" &
	pid=$!
	i=0
	until grep -q VSOCK-LISTENING "$log" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || break
		i=$((i + 1))
		[ $i -lt 3000 ] || break
		sleep 0.1
	done
	t0=$(now)
	head -c $((MIB * 1048576)) /dev/zero | "$VV" uds-connect "$T/v.sock" 5000 | wc -c >"$T/echo.n"
	t1=$(now)
	wait "$pid"
	status=$?
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	g2h=$(tr -d '\r' <"$log" | sed -n 's/^VSOCK-G2H //p' | head -1)
	echo "@@VSOCK round=$r echo_bytes=$(cat "$T/echo.n") echo_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
		"$(echo "$g2h" | sed 's/bytes=/g2h_bytes=/; s/seconds=/g2h_s=/') status=$status" \
		"result=$(tr -d '\r' <"$log" | sed -n 's/^VMMTEST-RESULT vsock-bench //p' | tr ' ' '_' | head -c 80)"
	[ "$status" = 0 ] || { echo "@@VSOCK-FAIL round=$r"; tail -5 "$T/vmm.err"; tr -d '\r' <"$log" | tail -10; }
	r=$((r + 1))
done
echo "@@VSOCK-DONE"
