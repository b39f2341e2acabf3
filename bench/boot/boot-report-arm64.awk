# SPDX-License-Identifier: Apache-2.0
# Boot benchmark report on arm64 (bench/boot/run-arm64.sh): reads the log of run-inside-arm64.sh
# (@@BENCH, @@BENCH-NA and @@BENCH-INFO lines, carriage returns removed) and prints, per vCPU count,
# a Markdown table of median (min-max) over the counted runs that exited 0 with the guest's PASS
# line, for vmm and QEMU virt, with the ratio vmm / virt of the medians; then the goals of issue 16
# (start -> result line at most QEMU virt's, peak RSS under QEMU virt's), each with its figures and
# met / not met, per vCPU count.
# awk -v date=.. -v machine=.. -v kver=.. -v qm=.. -v qcpu=.. -v runs=N -v cpus="1 2" -f stats.awk -f boot-report-arm64.awk LOG
function median(s) { stats(s); return med }
function ratio(a, b) { return (a < 0 || b <= 0) ? "n/a" : sprintf("%.2f", a / b) }
function cell(w, c, key, scale, fmt) {
	if (w in na) return "n/a"
	return mmm(v[w, c, key], scale, fmt)
}
function rcell(c, key) {
	if (("vmm" in na) || ("virt" in na)) return "n/a"
	return ratio(median(v["vmm", c, key]), median(v["virt", c, key]))
}
function add(w, c, key, x) { v[w, c, key] = v[w, c, key] " " x }
function cname(c) { return c (c == 1 ? " vCPU" : " vCPUs") }
function met(ok) { return ok ? "**met**" : "**not met**" }
function row(c, label, key, scale, fmt) {
	printf "| %s | %s | %s | %s |\n", label, cell("vmm", c, key, scale, fmt), cell("virt", c, key, scale, fmt), rcell(c, key)
}
# goal(label, key, unit, scale, fmt, strict): one row of the goals table, vmm's median against virt's
# (at most virt's, or under it when strict).
function goal(label, key, unit, scale, fmt, strict,   ci, c, a, b) {
	printf "| %s |", label
	for (ci = 1; ci <= nc; ci++) {
		c = CP[ci]; a = median(v["vmm", c, key]); b = median(v["virt", c, key])
		if (("vmm" in na) || ("virt" in na) || a < 0 || b <= 0) { printf " n/a |"; continue }
		printf " " fmt " / " fmt " %s = %.2f x: %s |", a * scale, b * scale, unit, a / b, met(strict ? a < b : a <= b)
	}
	printf "\n"
}
BEGIN { nc = split(cpus, CP, " ") }
/^@@BENCH-NA (vmm|virt) kernel=/ { w = $2; r = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ reason=/, "", r); na[w] = 1; why[w] = r }
/^@@BENCH (vmm|virt) run=[0-9]+ / {
	w = $2; delete kv
	for (i = 3; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	c = kv["cpus"]
	if (kv["status"] != "0" || kv["pass"] != "1" || kv["result_ms"] < 0) { bad[w, c]++; badall[w]++; next }
	n[w, c]++; nall[w]++
	add(w, c, "res", kv["result_ms"]); add(w, c, "exit", kv["exit_ms"]); add(w, c, "rss", kv["rss_kib"])
	add(w, c, "cpu", kv["user_ms"] + kv["sys_ms"])
	if (kv["guest_up_s"] ~ /^[0-9.]+$/) add(w, c, "up", kv["guest_up_s"])
	if (kv["own_kib"] + 0 > 0) {
		add(w, c, "own", kv["own_kib"])
		if (kv["ram_size_kib"] != 524288) odd[w] = kv["ram_size_kib"]
	}
	if (w == "vmm" && kv["first_run_ms"] + 0 > 0) add(w, c, "frun", kv["first_run_ms"])
	if (w == "vmm" && kv["timer_run_ms"] + 0 > 0) add(w, c, "trun", kv["timer_run_ms"])
}
/^@@BENCH-INFO (vmm|qemu) --version: / {
	w = $2; for (i = 4; i <= NF; i++) { split($i, p, "="); if (p[1] == "exit_ms") ver[w] = ver[w] " " p[2] }
}
/^@@BENCH-INFO vmm=/ { vmmver = substr($0, length("@@BENCH-INFO vmm=") + 1) }
/^@@BENCH-INFO qemu=/ { for (i = 2; i < NF; i++) if ($i == "version") qver = "QEMU " $(i + 1) }
END {
	printf "Boot benchmark on arm64, %s: %s; guest kernel %s; %s; %s -M %s -cpu %s; 512 MiB; %d rounds; runs counted (failed): vmm %d (%d), QEMU virt %d (%d)\n", \
		date, machine, kver, vmmver, qver, qm, qcpu, runs, nall["vmm"], badall["vmm"], nall["virt"], badall["virt"]
	for (ci = 1; ci <= nc; ci++) {
		c = CP[ci]
		printf "\n**%s**: runs counted (failed) vmm %d (%d), QEMU virt %d (%d)\n\n", cname(c), n["vmm", c], bad["vmm", c], n["virt", c], bad["virt", c]
		printf "| median (min-max) | vmm | QEMU virt | vmm / virt |\n| --- | ---: | ---: | ---: |\n"
		row(c, "start -> /init (result line), ms", "res", 1, "%.0f")
		row(c, "start -> exit, ms", "exit", 1, "%.0f")
		row(c, "peak RSS, MiB", "rss", 1 / 1024, "%.1f")
		row(c, "guest uptime at /init, s", "up", 1, "%.2f")
		row(c, "VMM own memory at /init, MiB", "own", 1 / 1024, "%.2f")
		row(c, "VMM CPU time (user+sys), ms", "cpu", 1, "%.0f")
		printf "| exec -> first KVM_RUN, ms | %s | - | |\n", cell("vmm", c, "frun", 1, "%.1f")
		printf "| main() -> first KVM_RUN (--boot-timer), ms | %s | - | |\n", cell("vmm", c, "trun", 1, "%.1f")
	}
	for (w in na) printf "\n%s: n/a, %s\n", (w == "vmm" ? "vmm" : "QEMU virt"), why[w]
	printf "\nstart -> exit of \"--version\" alone (ms, median): vmm %s, QEMU %s\n", mmm(ver["vmm"], 1, "%.1f"), mmm(ver["qemu"], 1, "%.1f")
	printf "exec -> first KVM_RUN: from bootwatch's note of the execvp call to its reading vmm's \"first KVM_RUN\" log line (program and library loading included); main() -> first KVM_RUN is vmm's own --boot-timer figure. Own memory: Rss in /proc/PID/smaps minus the Rss of the largest mapping (the guest RAM), sampled at the result line.\n"
	if ("vmm" in odd) printf "WARNING: vmm's largest mapping was %d KiB, not the 512 MiB of guest RAM: its own-memory figure is off\n", odd["vmm"]
	if ("virt" in odd) printf "WARNING: QEMU's largest mapping was %d KiB, not the 512 MiB of guest RAM: its own-memory figure is off\n", odd["virt"]

	printf "\nGoals (issue 16), medians per vCPU count:\n\n| goal |"
	for (ci = 1; ci <= nc; ci++) printf " %s |", cname(CP[ci])
	printf "\n| --- |"
	for (ci = 1; ci <= nc; ci++) printf " --- |"
	printf "\n"
	goal("start -> /init (result line) at most QEMU virt's", "res", "ms", 1, "%.0f", 0)
	goal("peak RSS less than QEMU virt's", "rss", "MiB", 1 / 1024, "%.1f", 1)
}
