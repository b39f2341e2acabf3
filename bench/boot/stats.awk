# SPDX-License-Identifier: Apache-2.0
# Shared by boot-report.awk and timeline-report.awk (awk -f stats.awk -f X-report.awk).
# stats(s): sorts the space-separated numbers in s; sets the globals med, mn, mx (-1 when there are
# none) and returns how many there were. mmm(s, scale, fmt): "median (min-max)" of them, each times
# scale, in format fmt ("n/a" when there are none).
function stats(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	if (n == 0) { med = mn = mx = -1; return 0 }
	med = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	mn = a[1]; mx = a[n]
	return n
}
function mmm(s, scale, fmt) {
	if (stats(s) == 0) return "n/a"
	return sprintf(fmt " (" fmt "-" fmt ")", med * scale, mn * scale, mx * scale)
}
