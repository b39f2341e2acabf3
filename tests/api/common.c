// SPDX-License-Identifier: Apache-2.0
/* Helpers shared by the API tests: see common.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int api_failures;

bool api_have_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void api_need_kvm(const char *test)
{
	if (!api_have_kvm()) {
		/* run-tests.sh routes this program to the nested test host where there is no /dev/kvm here. */
		if (getenv("VMM_REQUIRE_ALL") && strcmp(getenv("VMM_REQUIRE_ALL"), "1") == 0) {
			printf("FAIL: %s: /dev/kvm is absent or not accessible (%s), and VMM_REQUIRE_ALL=1\n", test,
			       strerror(errno));
			exit(1);
		}
		printf("SKIP: %s: /dev/kvm is absent or not accessible (%s)\n", test, strerror(errno));
		exit(EXIT_SKIP);
	}
}

int64_t api_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void api_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool api_under_valgrind(void)
{
	const char *v = getenv("API_UNDER_VALGRIND");

	return v && strcmp(v, "1") == 0;
}

static pthread_mutex_t watchdog_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watchdog_cond = PTHREAD_COND_INITIALIZER;
static unsigned watchdog_gen;
static bool watchdog_armed;

struct watchdog {
	unsigned gen, seconds;
	char what[128];
};

static void *watchdog_thread(void *arg)
{
	struct watchdog *w = arg;
	struct timespec until;
	bool fire;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += w->seconds;
	pthread_mutex_lock(&watchdog_lock);
	while (watchdog_armed && watchdog_gen == w->gen)
		if (pthread_cond_timedwait(&watchdog_cond, &watchdog_lock, &until) == ETIMEDOUT)
			break;
	fire = watchdog_armed && watchdog_gen == w->gen;
	pthread_mutex_unlock(&watchdog_lock);
	if (fire) {
		printf("FAIL: %s hung (no progress in %u s)\n", w->what, w->seconds);
		fflush(stdout);
		_exit(1);
	}
	free(w);
	return NULL;
}

void api_watchdog(unsigned seconds, const char *what)
{
	struct watchdog *w = calloc(1, sizeof(*w));
	pthread_t t;

	REQUIRE(w);
	pthread_mutex_lock(&watchdog_lock);
	w->gen = ++watchdog_gen;
	watchdog_armed = true;
	pthread_mutex_unlock(&watchdog_lock);
	w->seconds = seconds;
	snprintf(w->what, sizeof(w->what), "%s", what);
	REQUIRE(pthread_create(&t, NULL, watchdog_thread, w) == 0);
	pthread_detach(t);
}

void api_watchdog_cancel(void)
{
	pthread_mutex_lock(&watchdog_lock);
	watchdog_armed = false;
	watchdog_gen++;
	pthread_cond_broadcast(&watchdog_cond);
	pthread_mutex_unlock(&watchdog_lock);
}

int api_result(const char *test)
{
	if (api_failures) {
		printf("FAIL: %s: %d check(s) failed\n", test, api_failures);
		return 1;
	}
	printf("PASS: %s\n", test);
	return 0;
}

void capture_init(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

void capture_destroy(struct capture *c)
{
	pthread_mutex_destroy(&c->lock);
}

void capture_cb(void *opaque, const uint8_t *buf, size_t len)
{
	struct capture *c = opaque;

	pthread_mutex_lock(&c->lock);
	c->calls++;
	for (size_t i = 0; i < len; i++) {
		if (c->len + 1 >= sizeof(c->buf)) {
			c->dropped += len - i;
			break;
		}
		c->buf[c->len++] = buf[i] ? (char)buf[i] : '?';
	}
	c->buf[c->len] = '\0';
	pthread_mutex_unlock(&c->lock);
}

size_t capture_len(struct capture *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->len + c->dropped;
	pthread_mutex_unlock(&c->lock);
	return n;
}

unsigned capture_count(struct capture *c, const char *s)
{
	unsigned n = 0;

	pthread_mutex_lock(&c->lock);
	for (const char *p = c->buf; (p = strstr(p, s)) != NULL; p++)
		n++;
	pthread_mutex_unlock(&c->lock);
	return n;
}

bool capture_has(struct capture *c, const char *s)
{
	return capture_count(c, s) > 0;
}

bool capture_wait(struct capture *c, const char *s, int timeout_ms)
{
	int64_t end = api_now_ms() + timeout_ms;

	while (!capture_has(c, s)) {
		if (api_now_ms() >= end)
			return false;
		api_sleep_ms(10);
	}
	return true;
}

char *capture_text(struct capture *c)
{
	char *s;

	pthread_mutex_lock(&c->lock);
	s = strdup(c->buf);
	pthread_mutex_unlock(&c->lock);
	REQUIRE(s);
	return s;
}

void events_init(struct events *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
}

void events_destroy(struct events *e)
{
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
}

void events_cb(void *opaque, struct vmm *vm, enum vmm_event ev)
{
	struct events *e = opaque;

	pthread_mutex_lock(&e->lock);
	if (e->n < MAX_EVENTS)
		e->ev[e->n] = ev;
	e->n++;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (e->hook)
		e->hook(e, vm, ev);
}

unsigned events_count(struct events *e)
{
	unsigned n;

	pthread_mutex_lock(&e->lock);
	n = e->n;
	pthread_mutex_unlock(&e->lock);
	return n;
}

bool events_wait_n(struct events *e, unsigned n, int timeout_ms)
{
	int64_t end = api_now_ms() + timeout_ms;

	while (events_count(e) < n) {
		if (api_now_ms() >= end)
			return false;
		api_sleep_ms(5);
	}
	return true;
}

int events_at(struct events *e, unsigned i)
{
	int ev = -1;

	pthread_mutex_lock(&e->lock);
	if (i < e->n && i < MAX_EVENTS)
		ev = (int)e->ev[i];
	pthread_mutex_unlock(&e->lock);
	return ev;
}

void events_dump(struct events *e, const char *what)
{
	pthread_mutex_lock(&e->lock);
	fprintf(stderr, "events (%s):", what);
	for (unsigned i = 0; i < e->n && i < MAX_EVENTS; i++)
		fprintf(stderr, " %s", vmm_event_str(e->ev[i]));
	fprintf(stderr, "\n");
	pthread_mutex_unlock(&e->lock);
}

void logs_init(struct logs *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
}

void logs_destroy(struct logs *l)
{
	pthread_mutex_destroy(&l->lock);
}

void logs_cb(void *opaque, enum vmm_log_level level, const char *msg)
{
	struct logs *l = opaque;
	size_t len = strlen(msg);

	pthread_mutex_lock(&l->lock);
	l->n++;
	if (level == VMM_LOG_ERROR)
		l->errors++;
	if (len && msg[len - 1] == '\n')
		l->bad_newline = true;
	snprintf(l->last, sizeof(l->last), "%s", msg);
	pthread_mutex_unlock(&l->lock);
	fprintf(stderr, "  [log %d] %s\n", (int)level, msg);
}

void logs_reset(struct logs *l)
{
	pthread_mutex_lock(&l->lock);
	l->n = 0;
	l->errors = 0;
	l->bad_newline = false;
	l->last[0] = '\0';
	pthread_mutex_unlock(&l->lock);
}

void api_payload_config(struct vmm_config *cfg, const char *payload_elf, const char *cmdline, unsigned cpus,
			struct capture *con, struct events *ev, struct logs *log)
{
	vmm_config_init(cfg);
	cfg->kernel = payload_elf;
	cfg->cmdline = cmdline;
	cfg->mem_bytes = 32ull << 20;
	cfg->cpus = cpus;
	cfg->timeout_ms = 60000; /* a safety net: a test never waits on a VM forever */
	if (con) {
		cfg->console_out = capture_cb;
		cfg->console_opaque = con;
	}
	if (ev) {
		cfg->event = events_cb;
		cfg->event_opaque = ev;
	}
	if (log) {
		cfg->log = logs_cb;
		cfg->log_opaque = log;
		cfg->log_level = VMM_LOG_DEBUG;
	}
}
