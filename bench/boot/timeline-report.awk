# SPDX-License-Identifier: Apache-2.0
# Boot timeline report (bench/boot/timeline.sh): reads the log of run-inside.sh in MODE=timeline
# (@@BENCH, @@DMESG, @@STRACE lines, carriage returns removed) and prints, for vmm against QEMU:
#  - the kernel logs aligned by message: timestamps dropped, numbers and hex replaced by N/X, the k-th
#    repeat of a message keyed apart; a message counts when it appears in more than half of each VMM's
#    runs; its time is the median over the runs. Rows: the first and last common message, the kvm-clock
#    sched offset, 'Freeing unused kernel memory', 'Run /init' (where the table stops), and every message whose gap to the
#    previous aligned message differs between the VMMs by more than TIMELINE_GAP_MS (default 20);
#  - the messages found under one VMM only, the CPU model and the TSC-deadline line;
#  - host-side times (bootwatch: start -> first console byte, -> /init's line; strace: -> KVM_CREATE_VM,
#    -> first KVM_RUN), the kvm-clock sched offset in ms, and the VMM's own memory at /init.
# awk -v date=.. -v machine=.. -v kver=.. -v qm=.. -f timeline-report.awk LOG
function norm(m) {
	gsub(/0x[0-9a-fA-F]+/, "X", m)
	gsub(/[0-9a-fA-F]*[0-9][0-9a-fA-F]*/, "N", m)
	gsub(/[ \t]+/, " ", m)
	return m
}
BEGIN {
	gapms = ENVIRON["TIMELINE_GAP_MS"] != "" ? ENVIRON["TIMELINE_GAP_MS"] + 0 : 20
	W[1] = "vmm"; W[2] = "qemu"; NAME["vmm"] = "vmm"; NAME["qemu"] = "QEMU"
}
/^@@BENCH (vmm|qemu) run=[0-9]+ / {
	w = $2; run = substr($3, 5); delete kv
	for (i = 4; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	if (kv["status"] != "0" || kv["pass"] != "1") { bad[w]++; next }
	good[w, run] = 1; nrun[w]++
	res[w] = res[w] " " kv["result_ms"]; first[w] = first[w] " " kv["first_ms"]
	if (kv["guest_up_s"] ~ /^[0-9.]+$/) { up[w] = up[w] " " kv["guest_up_s"]; pre[w] = pre[w] " " (kv["result_ms"] - kv["guest_up_s"] * 1000) }
	if (kv["ram_rss_kib"] + 0 > 0) {
		rss[w] = rss[w] " " kv["smaps_rss_kib"]; ram[w] = ram[w] " " kv["ram_rss_kib"]
		ovh[w] = ovh[w] " " (kv["smaps_rss_kib"] - kv["ram_rss_kib"]); ramsz[w] = kv["ram_size_kib"]
	}
	peak[w] = peak[w] " " kv["rss_kib"]
}
/^@@STRACE (vmm|qemu) / {
	for (i = 3; i <= NF; i++) { split($i, p, "="); st[$2, p[1]] = p[2] }
}
/^@@DMESG (vmm|qemu) [0-9]+ \[/ {
	w = $2; run = $3
	line = $0; sub(/^@@DMESG [a-z]+ [0-9]+ \[ */, "", line)
	t = line; sub(/\].*/, "", t)
	msg = line; sub(/^[^\]]*\] ?/, "", msg)
	k = norm(msg); seen[w, run, k]++; k = k "#" seen[w, run, k]
	key_runs[w, k]++
	times[w, k] = times[w, k] " " t
	if (!((w, k) in text)) { text[w, k] = msg; order[w, ++nkey[w]] = k }
	if (msg ~ /kvm-clock: using sched offset of [0-9]+ cycles/) { c = msg; gsub(/[^0-9]/, "", c); cyc[w, run] = c }
	if (msg ~ /^tsc: Detected [0-9.]+ MHz/) { split(msg, q, " "); mhz[w, run] = q[3] }
	if (msg ~ /TSC deadline timer available/) tscdl[w]++
	if (msg ~ /^smpboot: CPU0: /) { m = msg; sub(/^smpboot: CPU0: /, "", m); model[w] = m }
}
END {
	printf "Boot timeline, %s: %s; guest kernel %s; QEMU -M %s; 1 vCPU, 512 MiB, quiet; runs counted: vmm %d, QEMU %d (failed: %d, %d)\n\n", \
		date, machine, kver, qm, nrun["vmm"], nrun["qemu"], bad["vmm"], bad["qemu"]
	# Offsets of the kvm-clock line, in ms of the guest's TSC.
	for (r in good) { split(r, rr, SUBSEP); w = rr[1]; run = rr[2]
		if ((w, run) in cyc && mhz[w, run] > 0) offms[w] = offms[w] " " cyc[w, run] / (mhz[w, run] * 1000) }
	# Common messages, in vmm's order of median time; QEMU's medians must not go backwards.
	n = 0
	for (i = 1; i <= nkey["vmm"]; i++) {
		k = order["vmm", i]
		if (key_runs["vmm", k] * 2 <= nrun["vmm"] || key_runs["qemu", k] * 2 <= nrun["qemu"]) continue
		stats(times["vmm", k]); tv = med; stats(times["qemu", k]); tq = med
		n++; ck[n] = k; ctv[n] = tv; ctq[n] = tq
	}
	for (i = 2; i <= n; i++) {   # insertion sort by vmm's median time, stable
		k = ck[i]; a = ctv[i]; b = ctq[i]
		for (j = i - 1; j >= 1 && ctv[j] > a; j--) { ck[j + 1] = ck[j]; ctv[j + 1] = ctv[j]; ctq[j + 1] = ctq[j] }
		ck[j + 1] = k; ctv[j + 1] = a; ctq[j + 1] = b
	}
	printf "Guest time (dmesg, s: median (min-max)) at each aligned message; diff = vmm - QEMU; step = change of diff since the\n"
	printf "previous aligned message (rows: fixed phases, and |step| > %d ms)\n\n", gapms
	printf "| message | vmm (s) | QEMU (s) | diff (ms) | step (ms) |\n| --- | ---: | ---: | ---: | ---: |\n"
	pv = pq = -1; skipped = 0; last = 0; lastshown = 0
	for (i = 1; i <= n; i++) {
		if (ctq[i] < pq) { skipped++; continue }
		k = ck[i]; msg = text["vmm", k]
		step = pv < 0 ? 0 : ((ctv[i] - pv) - (ctq[i] - pq)) * 1000
		fixed = pv < 0 || msg ~ /using sched offset|Freeing unused kernel|Run \/init/
		if (fixed || step > gapms || step < -gapms) {
			if (length(msg) > 72) msg = substr(msg, 1, 69) "..."
			gsub(/\|/, "/", msg)
			printf "| %s | %s | %s | %+.0f | %+.0f |\n", msg, mmm(times["vmm", k], 1, "%.3f"), mmm(times["qemu", k], 1, "%.3f"), \
				(ctv[i] - ctq[i]) * 1000, step
			lastshown = i
		}
		pv = ctv[i]; pq = ctq[i]; last = i
		if (msg ~ /Run \/init/) break   # what follows is /init's own work (modules it loads)
	}
	if (last > 0 && last != lastshown) {
		k = ck[last]; msg = text["vmm", k]; if (length(msg) > 72) msg = substr(msg, 1, 69) "..."
		printf "| (last common) %s | %s | %s | %+.0f | |\n", msg, mmm(times["vmm", k], 1, "%.3f"), mmm(times["qemu", k], 1, "%.3f"), \
			(ctv[last] - ctq[last]) * 1000
	}
	printf "\n%d messages aligned, %d left out because QEMU logged them in another order.\n", n - skipped, skipped
	for (x = 1; x <= 2; x++) {
		w = W[x]; o = W[3 - x]; c = 0
		printf "Only under %s (in more than half its runs, in none of the other's):\n", NAME[w]
		for (i = 1; i <= nkey[w]; i++) {
			k = order[w, i]
			if (key_runs[w, k] * 2 <= nrun[w] || key_runs[o, k] > 0) continue
			if (++c > 25) continue
			stats(times[w, k]); printf "  [%.3f] %s\n", med, text[w, k]
		}
		if (c > 25) printf "  ... and %d more\n", c - 25
		if (c == 0) printf "  (none)\n"
	}
	printf "\n| | vmm | QEMU |\n| --- | ---: | ---: |\n"
	printf "| CPU (smpboot: CPU0) | %s | %s |\n", model["vmm"], model["qemu"]
	printf "| 'TSC deadline timer available' (runs) | %d of %d | %d of %d |\n", tscdl["vmm"], nrun["vmm"], tscdl["qemu"], nrun["qemu"]
	printf "| kvm-clock sched offset (ms of TSC) | %s | %s |\n", mmm(offms["vmm"], 1, "%.0f"), mmm(offms["qemu"], 1, "%.0f")
	printf "| host: start -> first console byte (ms) | %s | %s |\n", mmm(first["vmm"], 1, "%.0f"), mmm(first["qemu"], 1, "%.0f")
	printf "| host: start -> /init's line (ms) | %s | %s |\n", mmm(res["vmm"], 1, "%.0f"), mmm(res["qemu"], 1, "%.0f")
	printf "| guest uptime at /init (s) | %s | %s |\n", mmm(up["vmm"], 1, "%.2f"), mmm(up["qemu"], 1, "%.2f")
	printf "| host time to /init minus guest uptime (ms) | %s | %s |\n", mmm(pre["vmm"], 1, "%.0f"), mmm(pre["qemu"], 1, "%.0f")
	sv = ("vmm", "create_vm_ms") in st ? st["vmm", "create_vm_ms"] " / " st["vmm", "first_run_ms"] : "n/a"
	sq = ("qemu", "create_vm_ms") in st ? st["qemu", "create_vm_ms"] " / " st["qemu", "first_run_ms"] : "n/a"
	printf "| strace, 1 run: exec -> KVM_CREATE_VM / -> first KVM_RUN (ms) | %s | %s |\n", sv, sq
	printf "| Rss at /init, total (MiB) | %s | %s |\n", mmm(rss["vmm"], 1 / 1024, "%.1f"), mmm(rss["qemu"], 1 / 1024, "%.1f")
	printf "| guest RAM touched (Rss of the %d MiB mapping, MiB) | %s | %s |\n", ramsz["vmm"] / 1024, mmm(ram["vmm"], 1 / 1024, "%.1f"), mmm(ram["qemu"], 1 / 1024, "%.1f")
	printf "| VMM's own memory: total - guest RAM (MiB) | %s | %s |\n", mmm(ovh["vmm"], 1 / 1024, "%.1f"), mmm(ovh["qemu"], 1 / 1024, "%.1f")
	printf "| peak RSS at exit (MiB) | %s | %s |\n", mmm(peak["vmm"], 1 / 1024, "%.1f"), mmm(peak["qemu"], 1 / 1024, "%.1f")
	if (ramsz["qemu"] != ramsz["vmm"]) printf "\n(QEMU's largest mapping is %d KiB, vmm's %d KiB.)\n", ramsz["qemu"], ramsz["vmm"]
}
