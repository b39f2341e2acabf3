# SPDX-License-Identifier: Apache-2.0
# Boot benchmark report (bench/boot/run.sh): reads the log of run-inside.sh (@@BENCH, @@BENCH-NA and
# @@BENCH-INFO lines, carriage returns removed) and prints, per config (vCPUs x kernel), a Markdown
# table of median (min-max) over the counted runs that exited 0 with the guest's PASS line, for vmm,
# QEMU microvm and QEMU q35, with the ratio vmm / microvm of the medians; then the goals of issue 10,
# each with its figure (medians) and met / not met, per config.
# awk -v date=.. -v machine=.. -v kver=.. -v qm=.. -v runs=N -v cpus="1 2" -v kernels="bzImage vmlinux" -f boot-report.awk LOG
function median(s) { stats(s); return med }
function ratio(a, b) { return (a < 0 || b <= 0) ? "n/a" : sprintf("%.2f", a / b) }
function cell(w, c, key, scale, fmt) {
	if ((w, c) in na) return "n/a"
	return mmm(v[w, c, key], scale, fmt)
}
function rcell(c, key) {
	if (("vmm", c) in na || ("microvm", c) in na) return "n/a"
	return ratio(median(v["vmm", c, key]), median(v["microvm", c, key]))
}
function add(w, c, key, x) { v[w, c, key] = v[w, c, key] " " x }
function cname(c,   p) { split(c, p, SUBSEP); return p[1] (p[1] == 1 ? " vCPU, " : " vCPUs, ") p[2] }
function met(ok) { return ok ? "**met**" : "**not met**" }
BEGIN {
	W[1] = "vmm"; W[2] = "microvm"; W[3] = "q35"
	NAME["vmm"] = "vmm"; NAME["microvm"] = "QEMU microvm"; NAME["q35"] = "QEMU q35"
	nc = split(cpus, CP, " "); nk = split(kernels, KE, " "); ncfg = 0
	for (i = 1; i <= nc; i++) for (j = 1; j <= nk; j++) CFG[++ncfg] = CP[i] SUBSEP KE[j]
}
/^@@BENCH-NA (vmm|microvm|q35) kernel=/ {
	w = $2; k = substr($3, 8); r = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ reason=/, "", r)
	for (i = 1; i <= nc; i++) { na[w, CP[i] SUBSEP k] = 1; why[w, CP[i] SUBSEP k] = r }
}
/^@@BENCH (vmm|microvm|q35) run=[0-9]+ / {
	w = $2; delete kv
	for (i = 3; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	c = kv["cpus"] SUBSEP kv["kernel"]
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
/^@@BENCH-INFO devices=/ { devices = substr($0, length("@@BENCH-INFO devices=") + 1) }
END {
	printf "Boot benchmark, %s: %s; guest kernel %s; %s; QEMU -M %s and -M q35; 512 MiB; %d rounds; runs counted (failed): vmm %d (%d), QEMU microvm %d (%d), QEMU q35 %d (%d)\n", \
		date, machine, kver, vmmver, qm, runs, nall["vmm"], badall["vmm"], nall["microvm"], badall["microvm"], nall["q35"], badall["q35"]
	if (devices != "") printf "Devices: %s\n", devices
	for (ci = 1; ci <= ncfg; ci++) {
		c = CFG[ci]
		printf "\n**%s**: runs counted (failed) vmm %d (%d), QEMU microvm %d (%d), QEMU q35 %d (%d)\n\n", cname(c), \
			n["vmm", c], bad["vmm", c], n["microvm", c], bad["microvm", c], n["q35", c], bad["q35", c]
		printf "| median (min-max) | vmm | QEMU microvm | QEMU q35 | vmm / microvm |\n| --- | ---: | ---: | ---: | ---: |\n"
		row(c, "start -> /init (result line), ms", "res", 1, "%.0f")
		row(c, "start -> exit, ms", "exit", 1, "%.0f")
		row(c, "peak RSS, MiB", "rss", 1 / 1024, "%.1f")
		row(c, "guest uptime at /init, s", "up", 1, "%.2f")
		row(c, "VMM own memory at /init, MiB", "own", 1 / 1024, "%.2f")
		row(c, "VMM CPU time (user+sys), ms", "cpu", 1, "%.0f")
		printf "| exec -> first KVM_RUN, ms | %s | - | - | |\n", cell("vmm", c, "frun", 1, "%.1f")
		printf "| main() -> first KVM_RUN (--boot-timer), ms | %s | - | - | |\n", cell("vmm", c, "trun", 1, "%.1f")
		for (k = 1; k <= 3; k++) if ((W[k], c) in na) printf "\n%s, %s: n/a, %s\n", NAME[W[k]], cname(c), why[W[k], c]
	}
	printf "\nstart -> exit of \"--version\" alone (ms, median): vmm %s, QEMU %s\n", mmm(ver["vmm"], 1, "%.1f"), mmm(ver["qemu"], 1, "%.1f")
	printf "exec -> first KVM_RUN: from bootwatch's note of the execvp call to its reading vmm's \"first KVM_RUN\" log line (program and library loading included); main() -> first KVM_RUN is vmm's own --boot-timer figure. Own memory: Rss in /proc/PID/smaps minus the Rss of the largest mapping (the guest RAM), sampled at the result line.\n"
	for (k = 1; k <= 3; k++) if (W[k] in odd) printf "WARNING: %s's largest mapping was %d KiB, not the 512 MiB of guest RAM: its own-memory figure is off\n", NAME[W[k]], odd[W[k]]

	# The goals, on the medians.
	printf "\nGoals (issue 10), medians per config:\n\n| goal |"
	for (ci = 1; ci <= ncfg; ci++) printf " %s |", cname(CFG[ci])
	printf "\n| --- |"
	for (ci = 1; ci <= ncfg; ci++) printf " --- |"
	printf "\n| start -> /init at most 0.6 x QEMU microvm's |"
	for (ci = 1; ci <= ncfg; ci++) {
		c = CFG[ci]; a = median(v["vmm", c, "res"]); b = median(v["microvm", c, "res"])
		if (("vmm", c) in na || ("microvm", c) in na || a < 0 || b <= 0) { printf " n/a |"; continue }
		printf " %.3f x (%.0f / %.0f ms): %s |", a / b, a, b, met(a <= 0.6 * b)
	}
	printf "\n| guest uptime at /init at most QEMU microvm's |"
	for (ci = 1; ci <= ncfg; ci++) {
		c = CFG[ci]; a = median(v["vmm", c, "up"]); b = median(v["microvm", c, "up"])
		if (("vmm", c) in na || ("microvm", c) in na || a < 0 || b < 0) { printf " n/a |"; continue }
		printf " %.2f / %.2f s: %s |", a, b, met(a <= b)
	}
	printf "\n| exec -> first KVM_RUN at most 5 ms |"
	for (ci = 1; ci <= ncfg; ci++) {
		c = CFG[ci]; a = median(v["vmm", c, "frun"])
		if (("vmm", c) in na || a < 0) { printf " n/a |"; continue }
		printf " %.1f ms: %s |", a, met(a <= 5)
	}
	printf "\n| VMM own memory at most 3 MiB |"
	for (ci = 1; ci <= ncfg; ci++) {
		c = CFG[ci]; a = median(v["vmm", c, "own"])
		if (("vmm", c) in na || a < 0) { printf " n/a |"; continue }
		printf " %.2f MiB: %s |", a / 1024, met(a <= 3072)
	}
	printf "\n"
}
function row(c, label, key, scale, fmt) {
	printf "| %s | %s | %s | %s | %s |\n", label, cell("vmm", c, key, scale, fmt), cell("microvm", c, key, scale, fmt), \
		cell("q35", c, key, scale, fmt), rcell(c, key)
}
