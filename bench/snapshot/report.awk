# SPDX-License-Identifier: Apache-2.0
# Snapshot benchmark report (bench/snapshot/run.sh): reads the log of run-inside.sh (@@SNAP,
# @@SNAP-SAVE and @@SNAP-INFO lines, carriage returns removed) and prints the saves, one Markdown table
# of median (min-max) per config over the counted runs (exit status 0, the guest's PASS line and
# "SNAP-CMD-OUT x"), and the goals of issue 12 with their figures (medians), met or not.
# Times in the table are from the execvp call (snapwatch notes it in the child), not from the fork.
# awk -v date=.. -v machine=.. -v kver=.. -v qm=.. -f ../boot/stats.awk -f report.awk LOG
function median(s) { stats(s); return med }
function add(c, key, x) { v[c, key] = v[c, key] " " x }
function met(ok) { return ok ? "**met**" : "**not met**" }
function mib(kib) { return sprintf("%.1f", kib / 1024) }
# unsquash(s): run-inside.sh's one-word form of vmm's "snapshot saved" figures back into words.
function unsquash(s) { gsub(/;/, ",", s); gsub(/_/, " ", s); return s }
BEGIN {
	NC = split("vmm:restore:256 vmm:restore:2048 vmm:cold:256 qemu:restore:256 qemu:restore:2048 qemu:cold:256", C, " ")
	HEAD["vmm:restore:256"] = "vmm restore, 256 MiB"; HEAD["vmm:restore:2048"] = "vmm restore, 2 GiB"
	HEAD["vmm:cold:256"] = "vmm cold boot, 256 MiB"; HEAD["qemu:restore:256"] = "QEMU restore, 256 MiB"
	HEAD["qemu:restore:2048"] = "QEMU restore, 2 GiB"; HEAD["qemu:cold:256"] = "QEMU cold boot, 256 MiB"
}
/^@@SNAP-INFO vmm=/ { vmmver = substr($0, length("@@SNAP-INFO vmm=") + 1) }
/^@@SNAP-INFO qemu=/ { q = substr($0, length("@@SNAP-INFO qemu=") + 1); sub(/ machine=.*/, "", q); sub(/ \(.*/, "", q); sub(/ emulator version/, "", q); qver = q }
/^@@SNAP-SAVE / {
	delete kv
	for (i = 3; i <= NF; i++) { p = index($i, "="); kv[substr($i, 1, p - 1)] = substr($i, p + 1) }
	m = kv["mem"]; w = $2
	if (w == "vmm") {
		save["vmm", m] = sprintf("| vmm, %s | %s | %s | state %.1f KiB, memory %s MiB apparent, %s MiB allocated | %s | %s |", \
			m == 2048 ? "2 GiB" : m " MiB", (kv["ok"] == 1 ? "yes" : "**no**") \
			(kv["races"] > 0 ? sprintf(" (%d of %d saves had run on to READY-FOR-COMMAND)", kv["races"], kv["tries"]) : ""), \
			kv["result_ms"] >= 0 ? sprintf("%.0f ms", kv["result_ms"] - kv["exec_ms"]) : "n/a", \
			kv["state_bytes"] / 1024, mib(kv["memory_bytes"] / 1024), mib(kv["memory_alloc_kib"]), \
			(kv["result_ms"] >= 0 && kv["exit_ms"] >= 0) ? sprintf("%.0f ms", kv["exit_ms"] - kv["result_ms"]) : "n/a", \
			kv["saved"] != "?" ? unsquash(kv["saved"]) : "")
		alloc[m] = kv["memory_alloc_kib"]
	} else {
		save["qemu", m] = sprintf("| QEMU, %s | %s | %s s | migration stream %s MiB | %s s (migrate to the file) | |", \
			m == 2048 ? "2 GiB" : m " MiB", kv["ok"] == 1 ? "yes" : "**no**", kv["boot_to_request_s"], \
			mib(kv["file_bytes"] / 1024), kv["migrate_s"])
	}
}
/^@@SNAP (vmm|qemu) (restore|cold) mem=[0-9]+ run=[0-9]+ / {
	delete kv
	for (i = 4; i <= NF; i++) { p = index($i, "="); kv[substr($i, 1, p - 1)] = substr($i, p + 1) }
	c = $2 ":" $3 ":" kv["mem"]
	if (kv["status"] != "0" || kv["pass"] != "1" || kv["result_ms"] < 0) { bad[c]++; badall++; next }
	n[c]++; nall++
	x = kv["exec_ms"]
	add(c, "first", kv["first_ms"] - x); add(c, "ready", kv["wait_ms"] - x); add(c, "res", kv["result_ms"] - x)
	add(c, "cmd", kv["result_ms"] - kv["input_ms"]); add(c, "exit", kv["exit_ms"] - x)
	add(c, "rss", kv["rss_kib"]); add(c, "cpu", kv["user_ms"] + kv["sys_ms"])
	if (kv["ram_size_kib"] == kv["mem"] * 1024) {
		add(c, "ram", kv["ram_rss_kib"]); add(c, "own", kv["smaps_rss_kib"] - kv["ram_rss_kib"])
	} else if (kv["ram_size_kib"] != "") {
		odd[c] = kv["ram_size_kib"]
	}
	if (kv["first_run_ms"] + 0 > 0) add(c, "frun", kv["first_run_ms"])
	if ($2 == "qemu" && $3 == "restore" && kv["loaded_ms"] >= 0) add(c, "loaded", kv["loaded_ms"] - x)
	# The tty's echo of the command can land before that line's own newline: "READY-FOR-COMMANDecho_x".
	f = kv["first"]; if (f ~ /^READY-FOR-COMMAND/) f = "READY-FOR-COMMAND"
	firsts[c, f]++
}
function row(label, key, scale, fmt,   k, s) {
	s = "| " label " |"
	for (k = 1; k <= NC; k++) s = s " " mmm(v[C[k], key], scale, fmt) " |"
	print s
}
END {
	printf "Snapshot benchmark, %s: %s; guest kernel %s, 1 vCPU, command line \"console=ttyS0 reboot=k panic=-1 quiet vmmtest=snapshot vmmtest.timeout=900\"; %s; %s -M %s; runs counted (failed): %d (%d)\n", \
		date, machine, kver, vmmver, qver, qm, nall, badall
	printf "\nSaving (once each):\n\n| snapshot | ok | boot -> snapshot request | what was written | request -> exit | vmm's own figure |\n| --- | --- | ---: | --- | ---: | --- |\n"
	for (k = 256; k <= 2048; k += 1792) { if (("vmm", k) in save) print save["vmm", k] }
	for (k = 256; k <= 2048; k += 1792) { if (("qemu", k) in save) print save["qemu", k] }
	s = "\n| median (min-max) |"; t = "| --- |"
	for (k = 1; k <= NC; k++) { s = s " " HEAD[C[k]] " |"; t = t " ---: |" }
	print s; print t
	s = "| runs counted (failed) |"
	for (k = 1; k <= NC; k++) s = s " " n[C[k]] + 0 " (" bad[C[k]] + 0 ") |"
	print s
	row("exec -> first console output, ms", "first", 1, "%.1f")
	row("exec -> READY-FOR-COMMAND, ms", "ready", 1, "%.1f")
	row("exec -> command result (SNAP-CMD-OUT), ms", "res", 1, "%.1f")
	row("command written -> its result, ms", "cmd", 1, "%.1f")
	row("exec -> exit (after power-off), ms", "exit", 1, "%.0f")
	row("peak RSS, MiB", "rss", 1 / 1024, "%.1f")
	row("guest RAM Rss at the result, MiB", "ram", 1 / 1024, "%.1f")
	row("VMM's other memory at the result, MiB", "own", 1 / 1024, "%.1f")
	row("CPU time (user+sys), ms", "cpu", 1, "%.0f")
	row("exec -> first KVM_RUN (vmm), ms", "frun", 1, "%.1f")
	row("exec -> migration stream loaded (QEMU), ms", "loaded", 1, "%.1f")
	# What the restored guests printed first (the runs counted).
	printf "\nFirst console line after restore (runs):"
	for (k = 1; k <= NC; k++) {
		if (C[k] !~ /restore/) continue
		s = ""
		for (fk in firsts) { split(fk, fp, SUBSEP); if (fp[1] == C[k]) s = s (s == "" ? "" : ", ") fp[2] " (" firsts[fk] ")" }
		printf " %s: %s;", HEAD[C[k]], s == "" ? "n/a" : s
	}
	printf "\n"
	for (k = 1; k <= NC; k++) if (C[k] in odd) printf "WARNING: %s: the largest mapping was %d KiB, not the guest RAM: no RAM Rss figure\n", HEAD[C[k]], odd[C[k]]

	r1 = median(v["vmm:restore:256", "first"]); r2 = median(v["vmm:restore:2048", "first"])
	cold = median(v["vmm:cold:256", "ready"]); coldres = median(v["vmm:cold:256", "res"])
	q1 = median(v["qemu:restore:256", "first"]); q2 = median(v["qemu:restore:2048", "first"])
	qr1 = median(v["qemu:restore:256", "res"]); vr1 = median(v["vmm:restore:256", "res"])
	m1 = median(v["vmm:restore:256", "ram"]); m2 = median(v["vmm:restore:2048", "ram"])
	p1 = median(v["vmm:restore:256", "rss"]); p2 = median(v["vmm:restore:2048", "rss"]); pc = median(v["vmm:cold:256", "rss"])
	printf "\nGoals (issue 12), on the medians:\n\n| goal | figure | |\n| --- | --- | --- |\n"
	if (r1 > 0 && cold > 0)
		printf "| restore to first guest output under 5%% of our cold boot (to the same output, READY-FOR-COMMAND) | 256 MiB: %.1f / %.0f ms = %.1f%%; 2 GiB: %.1f ms = %.1f%% | %s |\n", \
			r1, cold, 100 * r1 / cold, r2, 100 * r2 / cold, met(r1 < 0.05 * cold && r2 > 0 && r2 < 0.05 * cold)
	if (r1 > 0 && q1 > 0)
		printf "| at least 5x faster than QEMU's restore (exec -> first guest output) | 256 MiB: %.0f / %.1f ms = %.1fx; 2 GiB: %.0f / %.1f ms = %.1fx (to the command's result: %.0f / %.1f ms = %.1fx) | %s |\n", \
			q1, r1, q1 / r1, q2, r2, (r2 > 0 ? q2 / r2 : 0), qr1, vr1, (vr1 > 0 ? qr1 / vr1 : 0), met(q1 >= 5 * r1 && r2 > 0 && q2 >= 5 * r2)
	if (m1 > 0 && m2 > 0)
		printf "| RSS after restore grows only with the pages the guest touches | guest RAM Rss at the result %.1f MiB (256 MiB) and %.1f MiB (2 GiB), of %.1f and %.1f MiB saved; peak RSS %.1f and %.1f MiB (cold boot: %.1f MiB) | %s |\n", \
			m1 / 1024, m2 / 1024, alloc[256] / 1024, alloc[2048] / 1024, p1 / 1024, p2 / 1024, pc / 1024, \
			met(m1 < 0.5 * alloc[256] && m2 < 0.5 * alloc[2048] && p2 < 1.5 * p1)
	printf "\nTimes from snapwatch's note of the execvp call (CLOCK_MONOTONIC in the child, just before exec) to its read of the console pipe. The command \"echo x\" is written to the VMM's stdin when READY-FOR-COMMAND has appeared, in every config. Guest RAM Rss: the Rss of the VMM's largest mapping in /proc/PID/smaps when SNAP-CMD-OUT came; other memory: all Rss minus that. The RSS goal counts as met when the guest RAM Rss at the result is under half of the memory the snapshot holds for both RAM sizes and the 2 GiB restore's peak RSS is under 1.5x the 256 MiB one's.\n"
}
