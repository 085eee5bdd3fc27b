/*
 * executor.c: the guest side of the executor wire protocol
 * (harness/executor/PROTOCOL.md).
 *
 * One static binary with two roles:
 *
 *  - `executor --supervise CHANNEL` is the supervisor. It owns the byte
 *    channel to the host and /dev/kmsg, validates the host's frames, answers
 *    KILL and POWEROFF itself, forwards every other request to the executor
 *    over a pipe, and relays the executor's replies back, each preceded by
 *    the kernel warnings logged since the previous one. When the executor
 *    dies it reports DIED and starts a new one.
 *
 *  - the executor (a forked child of the supervisor, not re-executed) runs
 *    the requests one at a time: raw syscall batches, helper programs, FORK
 *    children that serve requests until EXIT.
 *
 * Everything here must survive whatever the tested kernel does to it: bad
 * input is answered with ERROR, never a crash, and nothing leaks between
 * requests.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAGIC 0x46584d4fu /* "OMXF" */
#define FRAME_HEADER 16
#define MAX_PAYLOAD (8u << 20)
#define PAD8(n) (((size_t)(n) + 7) & ~(size_t)7)

enum { REQ_CALLS = 1, REQ_HELPER = 2, REQ_FORK = 3, REQ_EXIT = 4, REQ_PING = 5, REQ_KILL = 16, REQ_POWEROFF = 17 };
enum {
	REP_CALLS = 101, REP_HELPER = 102, REP_FORKED = 103, REP_CHILD = 104, REP_PONG = 105, REP_ERROR = 106,
	REP_READY = 110, REP_DIED = 111, REP_KMSG = 112, REP_BYE = 113,
};
/* ARG_OUT_RET: an OUT buffer of which only the first `ret` bytes come back (read, getdents64). */
enum { ARG_INT = 0, ARG_IN = 1, ARG_OUT = 2, ARG_INOUT = 3, ARG_STRV = 4, ARG_RESULT = 5, ARG_OUT_RET = 6 };
#define CALL_CLOSE_RESULT 1
#define CALL_STOP_ON_ERROR 2
#define MAX_ARGS 6
/* Each helper stream is capped so a chatty helper cannot overflow a reply. */
#define HELPER_CAPTURE_MAX (1u << 20)
/* Long-lived executor fds live at or above this, so the fds a test opens start at 3. */
#define HIGH_FD 100

static void die(const char *what)
{
	fprintf(stderr, "executor: %s: %s\n", what, strerror(errno));
	_exit(1);
}

/* ---- little-endian integers and the frame checksum ---------------------- */

static uint32_t get32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 0x811c9dc5u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x01000193u;
	}
	return h;
}

/* ---- fd I/O -------------------------------------------------------------- */

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes unless EOF or an error comes first; returns the count read. */
static size_t read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static int send_frame(int fd, uint32_t seq, const void *payload, size_t len)
{
	size_t total = FRAME_HEADER + PAD8(len);
	uint8_t *f = calloc(1, total); /* calloc: the padding must be zero */
	if (!f)
		return -1;
	put32le(f, FRAME_MAGIC);
	put32le(f + 4, (uint32_t)len);
	put32le(f + 8, fnv1a(payload, len));
	put32le(f + 12, seq);
	memcpy(f + FRAME_HEADER, payload, len);
	int rc = write_all(fd, f, total);
	free(f);
	return rc;
}

/*
 * Reads one whole frame (header, payload, padding) from a pipe that our own
 * side writes, so it is trusted to be framed. Returns 1 with a malloc'd
 * *frame, 0 on EOF, -1 on a malformed or truncated frame.
 */
static int read_frame(int fd, uint8_t **frame, size_t *total)
{
	uint8_t h[FRAME_HEADER];
	size_t got = read_full(fd, h, sizeof h);
	if (got == 0)
		return 0;
	if (got < sizeof h || get32le(h) != FRAME_MAGIC || get32le(h + 4) > MAX_PAYLOAD)
		return -1;
	*total = FRAME_HEADER + PAD8(get32le(h + 4));
	*frame = malloc(*total);
	if (!*frame)
		return -1;
	memcpy(*frame, h, sizeof h);
	if (read_full(fd, *frame + FRAME_HEADER, *total - FRAME_HEADER) < *total - FRAME_HEADER) {
		free(*frame);
		return -1;
	}
	return 1;
}

/* Moves a long-lived fd out of the low range (keeping it if that fails). */
static int hide_fd(int fd)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- payload builder ----------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			die("out of memory");
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put_u8(struct buf *b, uint8_t v) { buf_add(b, &v, 1); }

static void put_u32(struct buf *b, uint32_t v)
{
	uint8_t t[4];
	put32le(t, v);
	buf_add(b, t, 4);
}

static void put_i32(struct buf *b, int32_t v) { put_u32(b, (uint32_t)v); }

static void put_i64(struct buf *b, int64_t v)
{
	put_u32(b, (uint32_t)(uint64_t)v);
	put_u32(b, (uint32_t)((uint64_t)v >> 32));
}

static void put_str(struct buf *b, const void *s, size_t n)
{
	put_u32(b, (uint32_t)n);
	buf_add(b, s, n);
}

/* Sends b as one frame and frees it. */
static void send_buf(int fd, uint32_t seq, struct buf *b)
{
	send_frame(fd, seq, b->p, b->len);
	free(b->p);
	*b = (struct buf){ 0 };
}

static void send_error(int fd, uint32_t seq, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct buf b = { 0 };
	put_u32(&b, REP_ERROR);
	put_str(&b, msg, strlen(msg));
	send_buf(fd, seq, &b);
}

static void send_status(int fd, uint32_t seq, uint32_t type, int status)
{
	struct buf b = { 0 };
	put_u32(&b, type);
	put_i32(&b, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	put_i32(&b, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	send_buf(fd, seq, &b);
}

/* ---- bounds-checked payload reader: a short body sets bad, never overreads */

struct rd {
	const uint8_t *p;
	size_t len, at;
	int bad;
};

static int rd_has(struct rd *r, size_t n)
{
	if (r->bad || r->len - r->at < n)
		r->bad = 1;
	return !r->bad;
}

static uint8_t get_u8(struct rd *r) { return rd_has(r, 1) ? r->p[r->at++] : 0; }

static uint32_t get_u32(struct rd *r)
{
	if (!rd_has(r, 4))
		return 0;
	r->at += 4;
	return get32le(r->p + r->at - 4);
}

static int64_t get_i64(struct rd *r)
{
	uint64_t lo = get_u32(r), hi = get_u32(r);
	return (int64_t)(lo | hi << 32);
}

/* A str as a malloc'd NUL-terminated copy (NULL on a short body). */
static char *get_str(struct rd *r, uint32_t *len)
{
	uint32_t n = get_u32(r);
	if (!rd_has(r, n))
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		die("out of memory");
	memcpy(s, r->p + r->at, n);
	s[n] = 0;
	r->at += n;
	if (len)
		*len = n;
	return s;
}

static void free_strv(char **v)
{
	for (char **s = v; s && *s; s++)
		free(*s);
	free(v);
}

/* A strv as a NULL-terminated array of copies (NULL on a short body). */
static char **get_strv(struct rd *r)
{
	uint32_t n = get_u32(r);
	if (!rd_has(r, (size_t)n * 4)) /* each str takes at least its length word */
		return NULL;
	char **v = calloc((size_t)n + 1, sizeof *v);
	if (!v)
		die("out of memory");
	for (uint32_t i = 0; i < n; i++) {
		if (!(v[i] = get_str(r, NULL))) {
			free_strv(v);
			return NULL;
		}
	}
	return v;
}

/* ======================== the executor ==================================== */

static int req_fd = -1, rep_fd = -1;
static int exit_pipe = -1; /* in a FORK child: where EXIT hands its seq to the parent */
static const char *channel_name;

struct arg {
	uint8_t kind;
	int64_t val;    /* INT value, RESULT index */
	char *mem;      /* IN, OUT, INOUT buffer */
	uint32_t size;  /* OUT, INOUT size */
	char **strv;    /* STRV */
};

struct call {
	uint32_t nr;
	uint8_t flags, nargs;
	struct arg a[MAX_ARGS];
};

static void free_calls(struct call *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (int j = 0; j < c[i].nargs; j++) {
			free(c[i].a[j].mem);
			free_strv(c[i].a[j].strv);
		}
	free(c);
}

/* Decodes one argument of call i; returns 0, or -1 with err filled. */
static int decode_arg(struct rd *r, struct arg *a, uint32_t i, size_t *outbytes, char *err, size_t errsz)
{
	a->kind = get_u8(r);
	switch (a->kind) {
	case ARG_INT:
		a->val = get_i64(r);
		break;
	case ARG_IN:
		a->mem = get_str(r, &a->size);
		break;
	case ARG_INOUT:
		a->mem = get_str(r, &a->size);
		*outbytes += (size_t)a->size + 4;
		break;
	case ARG_OUT:
	case ARG_OUT_RET:
		a->size = get_u32(r);
		*outbytes += (size_t)a->size + 4;
		/* Checked before allocating: a huge OUT must be an ERROR, not an OOM. */
		if (!r->bad && *outbytes <= MAX_PAYLOAD && !(a->mem = calloc(1, (size_t)a->size + 1)))
			die("out of memory");
		break;
	case ARG_STRV:
		a->strv = get_strv(r);
		break;
	case ARG_RESULT:
		a->val = get_u32(r);
		if (!r->bad && a->val >= i) {
			snprintf(err, errsz, "call %u: RESULT index %u is not an earlier call", i, (unsigned)a->val);
			return -1;
		}
		break;
	default:
		snprintf(err, errsz, "call %u: unknown argument kind %u", i, a->kind);
		return -1;
	}
	if (r->bad) {
		snprintf(err, errsz, "call %u: truncated argument", i);
		return -1;
	}
	if (*outbytes > MAX_PAYLOAD - 64) {
		snprintf(err, errsz, "call %u: OUT/INOUT buffers exceed the reply size", i);
		return -1;
	}
	return 0;
}

/* Decodes a whole batch before running any of it, so an ERROR means nothing ran. */
static struct call *decode_calls(struct rd *r, uint32_t *count, char *err, size_t errsz)
{
	uint32_t n = get_u32(r);
	if (r->bad || n > (r->len - r->at) / 6) { /* a call is at least 6 bytes */
		snprintf(err, errsz, "CALLS: bad call count");
		return NULL;
	}
	struct call *c = calloc(n ? n : 1, sizeof *c);
	if (!c)
		die("out of memory");
	size_t outbytes = (size_t)n * 16;
	for (uint32_t i = 0; i < n; i++) {
		c[i].nr = get_u32(r);
		c[i].flags = get_u8(r);
		uint8_t nargs = get_u8(r);
		if (r->bad || nargs > MAX_ARGS) {
			snprintf(err, errsz, "call %u: truncated or more than %d arguments", i, MAX_ARGS);
			goto fail;
		}
		for (c[i].nargs = 0; c[i].nargs < nargs; c[i].nargs++)
			if (decode_arg(r, &c[i].a[c[i].nargs], i, &outbytes, err, errsz) < 0) {
				c[i].nargs++; /* so its buffers are freed */
				goto fail;
			}
	}
	if (r->at != r->len) {
		snprintf(err, errsz, "CALLS: %zu trailing bytes", r->len - r->at);
		goto fail;
	}
	*count = n;
	return c;
fail:
	free_calls(c, n);
	return NULL;
}

static void handle_calls(uint32_t seq, struct rd *r)
{
	char err[160];
	uint32_t n;
	struct call *c = decode_calls(r, &n, err, sizeof err);
	if (!c) {
		send_error(rep_fd, seq, "%s", err);
		return;
	}
	long *rets = calloc(n ? n : 1, sizeof *rets);
	if (!rets)
		die("out of memory");
	struct buf b = { 0 };
	put_u32(&b, REP_CALLS);
	put_u32(&b, n);
	int stopped = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (stopped) {
			/* An earlier STOP_ON_ERROR call failed: this one is not made. */
			rets[i] = -1;
			put_i64(&b, -1);
			put_i32(&b, ECANCELED);
			put_u32(&b, 0);
			continue;
		}
		long a[MAX_ARGS] = { 0 };
		uint32_t nouts = 0;
		for (int j = 0; j < c[i].nargs; j++) {
			struct arg *g = &c[i].a[j];
			if (g->kind == ARG_INT)
				a[j] = (long)g->val;
			else if (g->kind == ARG_RESULT)
				a[j] = rets[g->val];
			else if (g->kind == ARG_STRV)
				a[j] = (long)g->strv;
			else
				a[j] = (long)g->mem;
			nouts += g->kind == ARG_OUT || g->kind == ARG_INOUT || g->kind == ARG_OUT_RET;
		}
		errno = 0;
		long ret = syscall((long)c[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		int e = ret == -1 ? errno : 0; /* before anything else can touch errno */
		if ((c[i].flags & CALL_CLOSE_RESULT) && ret >= 0)
			close((int)ret);
		stopped = (c[i].flags & CALL_STOP_ON_ERROR) && ret == -1;
		rets[i] = ret;
		put_i64(&b, ret);
		put_i32(&b, e);
		put_u32(&b, nouts);
		for (int j = 0; j < c[i].nargs; j++)
			if (c[i].a[j].kind == ARG_OUT || c[i].a[j].kind == ARG_INOUT)
				put_str(&b, c[i].a[j].mem, c[i].a[j].size);
			else if (c[i].a[j].kind == ARG_OUT_RET)
				put_str(&b, c[i].a[j].mem, ret < 0 ? 0 : ret > (long)c[i].a[j].size ? c[i].a[j].size : (uint32_t)ret);
	}
	send_buf(rep_fd, seq, &b);
	free(rets);
	free_calls(c, n);
}

/* ---- HELPER -------------------------------------------------------------- */

static void close_from(int lowest)
{
	if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0) == 0)
		return;
	struct rlimit rl; /* kernels before 5.9: close them one by one */
	long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (long)rl.rlim_cur : 65536;
	for (long fd = lowest; fd < max; fd++)
		close((int)fd);
}

/*
 * The helper's child side. Every fd it needs is first duplicated to a number
 * at or above `base` (F_DUPFD never replaces an open fd), so the dup2s onto
 * 0..2 and 3.. below cannot clobber a source that has not been moved yet.
 */
static void helper_child(const char *path, char **argv, const int *fds, uint32_t nfds, int outw, int errw)
{
	static char *const envp[] = { "PATH=/bin:/usr/bin", NULL };
	int base = 3 + (int)nfds;
	int *tmp = malloc(((size_t)nfds + 3) * sizeof *tmp);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!tmp || devnull < 0)
		_exit(127);
	int src[3] = { devnull, outw, errw };
	for (uint32_t i = 0; i < nfds + 3; i++) {
		tmp[i] = fcntl(i < 3 ? src[i] : fds[i - 3], F_DUPFD, base);
		if (tmp[i] < 0) {
			dprintf(errw, "helper: fd %d: %s\n", i < 3 ? src[i] : fds[i - 3], strerror(errno));
			_exit(127);
		}
	}
	for (uint32_t i = 0; i < nfds + 3; i++)
		if (dup2(tmp[i], (int)i) < 0)
			_exit(127);
	close_from(base);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execve(path, argv, envp);
	dprintf(2, "helper: execve %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* Appends what fd has to b (up to the cap); returns 0 at EOF or error. */
static int drain_into(int fd, struct buf *b)
{
	char chunk[65536];
	ssize_t n = read(fd, chunk, sizeof chunk);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0;
	if (b->len < HELPER_CAPTURE_MAX)
		buf_add(b, chunk, (size_t)n < HELPER_CAPTURE_MAX - b->len ? (size_t)n : HELPER_CAPTURE_MAX - b->len);
	return 1;
}

/*
 * Collects the helper's stdout/stderr until both reach EOF and it is reaped,
 * SIGKILLing it at the deadline. After a kill we give the pipes one more
 * second: a grandchild may still hold them, and we must not hang on it.
 * A pidfd wakes us when the helper exits: its pipes reach EOF just before it
 * becomes reapable, and polling waitpid for that gap cost up to a 10 ms
 * sleep per helper run. Kernels without pidfd_open (before 5.3) fall back to
 * polling waitpid every millisecond.
 */
static int wait_helper(pid_t pid, int outr, int errr, uint32_t timeout_ms, struct buf *out, struct buf *err, int *timed_out)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p[3] = {
		{ .fd = outr, .events = POLLIN },
		{ .fd = errr, .events = POLLIN },
		{ .fd = pidfd, .events = POLLIN },
	};
	long long deadline = timeout_ms ? now_ms() + timeout_ms : 0, grace = 0;
	int status = 0, reaped = 0;
	for (;;) {
		if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
			reaped = 1;
			p[2].fd = -1;
		}
		int open_pipes = (p[0].fd >= 0) + (p[1].fd >= 0);
		if (reaped && !open_pipes)
			break;
		int wait = -1;
		if (deadline && !*timed_out) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				kill(pid, SIGKILL);
				*timed_out = 1;
				grace = now_ms() + 1000;
			} else
				wait = (int)left;
		}
		if (*timed_out) {
			long long left = grace - now_ms();
			if (left <= 0)
				break;
			wait = (int)left;
		}
		if (!open_pipes && pidfd < 0 && (wait < 0 || wait > 1))
			wait = 1; /* pipes closed, not exited yet, no pidfd: poll waitpid */
		if (poll(p, 3, wait) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0 && p[i].revents && !drain_into(p[i].fd, i ? err : out))
				p[i].fd = -1;
	}
	while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pidfd >= 0)
		close(pidfd);
	return status;
}

static void handle_helper(uint32_t seq, struct rd *r)
{
	char *path = get_str(r, NULL);
	char **argv = get_strv(r);
	uint32_t nfds = get_u32(r);
	int *fds = NULL;
	if (!r->bad && rd_has(r, (size_t)nfds * 4)) {
		fds = malloc(((size_t)nfds + 1) * sizeof *fds);
		if (!fds)
			die("out of memory");
		for (uint32_t i = 0; i < nfds; i++)
			fds[i] = (int32_t)get_u32(r);
	}
	uint32_t timeout_ms = get_u32(r);
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	if (r->bad || !path || !argv || r->at != r->len) {
		send_error(rep_fd, seq, "HELPER: malformed body");
	} else if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		send_error(rep_fd, seq, "HELPER: pipe: %s", strerror(errno));
	} else {
		pid_t pid = fork();
		if (pid == 0)
			helper_child(path, argv, fds, nfds, outp[1], errp[1]);
		if (pid < 0) {
			send_error(rep_fd, seq, "HELPER: fork: %s", strerror(errno));
		} else {
			close(outp[1]);
			close(errp[1]);
			outp[1] = errp[1] = -1;
			struct buf out = { 0 }, err = { 0 }, b = { 0 };
			int timed_out = 0;
			int st = wait_helper(pid, outp[0], errp[0], timeout_ms, &out, &err, &timed_out);
			put_u32(&b, REP_HELPER);
			put_i32(&b, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			put_i32(&b, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			put_u8(&b, (uint8_t)timed_out);
			put_str(&b, out.p, out.len);
			put_str(&b, err.p, err.len);
			send_buf(rep_fd, seq, &b);
			free(out.p);
			free(err.p);
		}
	}
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(fds);
	free_strv(argv);
	free(path);
}

/* ---- FORK and EXIT ------------------------------------------------------- */

static void handle_fork(uint32_t seq)
{
	int p[2];
	/* Non-blocking read end: a child that died without EXIT leaves it empty. */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		send_error(rep_fd, seq, "FORK: pipe: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		send_error(rep_fd, seq, "FORK: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		if (exit_pipe >= 0) /* a nested FORK: our parent's pipe is not ours to hold */
			close(exit_pipe);
		exit_pipe = hide_fd(p[1]);
		struct buf b = { 0 };
		put_u32(&b, REP_FORKED);
		put_i32(&b, getpid());
		send_buf(rep_fd, seq, &b);
		return; /* the child goes on serving requests */
	}
	close(p[1]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	uint8_t s[4];
	uint32_t exit_seq = read(p[0], s, 4) == 4 ? get32le(s) : 0;
	close(p[0]);
	send_status(rep_fd, exit_seq, REP_CHILD, st);
}

static void handle_exit(uint32_t seq, struct rd *r)
{
	int32_t code = (int32_t)get_u32(r);
	if (r->bad || r->at != r->len) {
		send_error(rep_fd, seq, "EXIT: malformed body");
		return;
	}
	if (exit_pipe < 0) {
		send_error(rep_fd, seq, "EXIT outside a FORK child");
		return;
	}
	uint8_t s[4];
	put32le(s, seq);
	write_all(exit_pipe, s, 4);
	_exit(code);
}

static void handle_request(uint32_t seq, const uint8_t *payload, size_t len)
{
	struct rd r = { .p = payload, .len = len };
	uint32_t type = get_u32(&r);
	if (r.bad) {
		send_error(rep_fd, seq, "payload of %zu bytes has no type", len);
		return;
	}
	int empty = r.at == r.len;
	switch (type) {
	case REQ_CALLS:
		handle_calls(seq, &r);
		break;
	case REQ_HELPER:
		handle_helper(seq, &r);
		break;
	case REQ_EXIT:
		handle_exit(seq, &r);
		break;
	case REQ_FORK:
	case REQ_PING:
		if (!empty)
			send_error(rep_fd, seq, "request type %u takes no body", type);
		else if (type == REQ_FORK)
			handle_fork(seq);
		else {
			struct buf b = { 0 };
			put_u32(&b, REP_PONG);
			send_buf(rep_fd, seq, &b);
		}
		break;
	default:
		send_error(rep_fd, seq, "unknown request type %u", type);
	}
}

static void send_ready(void)
{
	struct utsname u;
	if (uname(&u) < 0)
		memset(&u, 0, sizeof u);
	struct buf b = { 0 };
	put_u32(&b, REP_READY);
	put_str(&b, u.release, strlen(u.release));
	put_str(&b, u.machine, strlen(u.machine));
	put_str(&b, channel_name, strlen(channel_name));
	put_i32(&b, getpid());
	send_buf(rep_fd, 0, &b);
}

static void executor_main(int rfd, int wfd) __attribute__((noreturn));
static void executor_main(int rfd, int wfd)
{
	/* The tests need the kernel's defaults, not the supervisor's dispositions. */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	setpgid(0, 0);
	/* In stdio mode fds 0/1 are the channel: a syscall writing fd 1 must not corrupt it. */
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		if (devnull > 1)
			close(devnull);
	}
	req_fd = hide_fd(rfd);
	rep_fd = hide_fd(wfd);
	send_ready();
	for (;;) {
		uint8_t *frame;
		size_t total;
		int rc = read_frame(req_fd, &frame, &total);
		if (rc <= 0)
			_exit(rc == 0 ? 0 : 2); /* the supervisor is gone, or the pipe is garbled */
		handle_request(get32le(frame + 12), frame + FRAME_HEADER, get32le(frame + 4));
		free(frame);
	}
}

/* ======================== the supervisor ================================== */

static int chan_in = -1, chan_out = -1, kmsg_fd = -1;
static pid_t exec_pid = -1;
static int exec_req = -1, exec_rep = -1; /* our ends of the executor's pipes */
static int exec_reaped, exec_status, exec_eof;
static struct buf inbuf; /* channel bytes not yet parsed into frames */

static void on_sigchld(int sig)
{
	(void)sig; /* only here to interrupt poll() */
}

static void start_executor(void)
{
	int req[2], rep[2];
	if (pipe2(req, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
		die("pipe");
	pid_t pid;
	while ((pid = fork()) < 0) {
		fprintf(stderr, "executor: fork: %s (retrying)\n", strerror(errno));
		sleep(1);
	}
	if (pid == 0) {
		close(req[1]);
		close(rep[0]);
		if (chan_in > 2)
			close(chan_in);
		if (kmsg_fd >= 0)
			close(kmsg_fd);
		free(inbuf.p);
		executor_main(req[0], rep[1]);
	}
	setpgid(pid, pid); /* as the child does: a KILL right now must find the group */
	close(req[0]);
	close(rep[1]);
	exec_pid = pid;
	exec_req = req[1];
	exec_rep = rep[0];
	exec_reaped = exec_eof = 0;
}

/* Kills the executor's group (helpers, FORK children), reaps it, drops its pipes. */
static int stop_executor(void)
{
	kill(-exec_pid, SIGKILL);
	while (!exec_reaped) {
		if (waitpid(exec_pid, &exec_status, 0) == exec_pid || errno != EINTR)
			exec_reaped = 1;
	}
	close(exec_req);
	close(exec_rep);
	exec_req = exec_rep = -1;
	return exec_status;
}

static void reap_children(void)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == exec_pid) {
			exec_reaped = 1;
			exec_status = st;
		}
}

/* Sends what the kernel logged at level 0-4 since the last call, as one KMSG frame. */
static void relay_kmsg(void)
{
	if (kmsg_fd < 0)
		return;
	struct buf lines = { 0 };
	uint32_t count = 0;
	char rec[8192];
	for (int i = 0; i < 100000; i++) { /* bounded: a kernel logging nonstop must not stall us */
		ssize_t n = read(kmsg_fd, rec, sizeof rec - 1);
		if (n < 0 && (errno == EPIPE || errno == EINTR))
			continue; /* EPIPE: records were overwritten; the next read goes on */
		if (n <= 0)
			break; /* EAGAIN: nothing more */
		rec[n] = 0;
		char *msg = memchr(rec, ';', (size_t)n);
		if (!msg || (atoi(rec) & 7) > 4)
			continue;
		msg++;
		char *nl = memchr(msg, '\n', (size_t)(rec + n - msg));
		size_t len = nl ? (size_t)(nl - msg) : (size_t)(rec + n - msg);
		if (lines.len + len < MAX_PAYLOAD - 4096) {
			put_str(&lines, msg, len);
			count++;
		}
	}
	if (count) {
		struct buf b = { 0 };
		put_u32(&b, REP_KMSG);
		put_u32(&b, count);
		buf_add(&b, lines.p, lines.len);
		send_buf(chan_out, 0, &b);
	}
	free(lines.p);
}

static void report_died(uint32_t seq, int status)
{
	relay_kmsg(); /* a crash's WARNING belongs before the DIED it explains */
	send_status(chan_out, seq, REP_DIED, status);
}

static void shutdown_and_exit(void) __attribute__((noreturn));
static void shutdown_and_exit(void)
{
	stop_executor();
	exit(0);
}

/* Relays one frame from the executor, after the kernel warnings before it. */
static void relay_reply(void)
{
	uint8_t *frame;
	size_t total;
	if (read_frame(exec_rep, &frame, &total) <= 0) {
		exec_eof = 1; /* dead, or garbled beyond trust: either way it is restarted */
		return;
	}
	relay_kmsg();
	write_all(chan_out, frame, total);
	free(frame);
}

/* A whole, valid frame from the host: the supervisor's own requests, or forward. */
static void dispatch(const uint8_t *frame, size_t total)
{
	uint32_t len = get32le(frame + 4), seq = get32le(frame + 12);
	uint32_t type = len >= 4 ? get32le(frame + FRAME_HEADER) : 0;
	if (type == REQ_KILL || type == REQ_POWEROFF) {
		if (len != 4) {
			send_error(chan_out, seq, "request type %u takes no body", type);
		} else if (type == REQ_KILL) {
			report_died(seq, stop_executor());
			start_executor();
		} else {
			struct buf b = { 0 };
			put_u32(&b, REP_BYE);
			send_buf(chan_out, seq, &b);
			shutdown_and_exit();
		}
		return;
	}
	/* A dead executor (EPIPE) is noticed by the main loop, which sends DIED. */
	write_all(exec_req, frame, total);
}

/* Offset of the next magic at or after from, or SIZE_MAX. */
static size_t find_magic(size_t from)
{
	for (size_t i = from; i + 4 <= inbuf.len; i++)
		if (get32le(inbuf.p + i) == FRAME_MAGIC)
			return i;
	return SIZE_MAX;
}

static int junk_tail; /* the buffer starts with the kept tail of junk already reported */

/*
 * Where to resume after a corrupt frame at `at`: the next magic; else skip at
 * least min_skip bytes (a whole frame whose sum is wrong holds no prefix of
 * the next one) but keep 3 bytes that may begin a magic.
 */
static size_t resync(size_t at, size_t min_skip)
{
	size_t next = find_magic(at + 1);
	if (next != SIZE_MAX)
		return next;
	size_t keep = inbuf.len - 3 > at + min_skip ? inbuf.len - 3 : at + min_skip;
	return keep < inbuf.len ? keep : inbuf.len;
}

/* Splits the buffered channel bytes into frames; a corrupt one gets ERROR (seq 0). */
static void parse_frames(void)
{
	size_t at = 0;
	while (inbuf.len - at >= FRAME_HEADER) {
		const uint8_t *h = inbuf.p + at;
		uint32_t len = get32le(h + 4);
		if (get32le(h) != FRAME_MAGIC) {
			size_t next = resync(at, 1);
			if (!(at == 0 && junk_tail)) /* one report per run of junk */
				send_error(chan_out, 0, "%zu bytes outside any frame", next - at);
			junk_tail = next == inbuf.len - 3 && find_magic(at + 1) == SIZE_MAX;
			at = next;
			continue;
		}
		junk_tail = 0;
		if (len > MAX_PAYLOAD) {
			send_error(chan_out, 0, "frame length %u exceeds %u", len, MAX_PAYLOAD);
			at = resync(at, 1);
			continue;
		}
		size_t total = FRAME_HEADER + PAD8(len);
		if (inbuf.len - at < total)
			break; /* the rest has not arrived yet */
		if (fnv1a(h + FRAME_HEADER, len) != get32le(h + 8)) {
			send_error(chan_out, 0, "checksum mismatch in a %u-byte frame (seq %u)", len, get32le(h + 12));
			at = resync(at, total);
			continue;
		}
		dispatch(h, total);
		at += total;
	}
	memmove(inbuf.p, inbuf.p + at, inbuf.len - at);
	inbuf.len -= at;
}

static void channel_input(void)
{
	uint8_t chunk[65536];
	ssize_t n = read(chan_in, chunk, sizeof chunk);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) /* the host closed the channel: nobody is left to serve */
		shutdown_and_exit();
	buf_add(&inbuf, chunk, (size_t)n);
	parse_frames();
}

static void make_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return;
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~CRTSCTS;
	t.c_iflag &= ~(IXON | IXOFF | IXANY);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	cfsetispeed(&t, B115200);
	cfsetospeed(&t, B115200);
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		fprintf(stderr, "executor: tcsetattr: %s\n", strerror(errno));
}

/* The first /dev/vport*p* node by name, or 0 (no glob(): it drags NSS into a static link). */
static int find_vport(char *out, size_t outsz)
{
	DIR *d = opendir("/dev");
	if (!d)
		return 0;
	struct dirent *e;
	char best[256] = "";
	unsigned a, b;
	while ((e = readdir(d)))
		if (sscanf(e->d_name, "vport%up%u", &a, &b) == 2 && (!best[0] || strcmp(e->d_name, best) < 0))
			snprintf(best, sizeof best, "%s", e->d_name);
	closedir(d);
	if (best[0])
		snprintf(out, outsz, "/dev/%s", best);
	return best[0] != 0;
}

/* Opens the channel; returns its name (for `auto`, the device it resolved to). */
static const char *open_channel(const char *name)
{
	static char path[300];
	if (!strcmp(name, "stdio")) {
		chan_in = 0;
		chan_out = 1;
		return name;
	}
	snprintf(path, sizeof path, "%s", name);
	if (!strcmp(name, "auto")) {
		snprintf(path, sizeof path, "/dev/ttyS1");
		if (access("/sys/bus/virtio/drivers/virtio_console", F_OK) == 0) {
			long long until = now_ms() + 5000;
			while (!find_vport(path, sizeof path) && now_ms() < until)
				usleep(50 * 1000);
		}
	}
	chan_in = chan_out = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (chan_in < 0)
		die(path);
	if (isatty(chan_in))
		make_raw(chan_in);
	return path;
}

static void supervise(const char *name) __attribute__((noreturn));
static void supervise(const char *name)
{
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	channel_name = open_channel(name);
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END); /* only what the tests cause, not the boot log */
	start_executor();
	for (;;) {
		reap_children();
		if (exec_reaped || exec_eof) {
			report_died(0, stop_executor());
			start_executor();
		}
		struct pollfd p[2] = { { .fd = chan_in, .events = POLLIN }, { .fd = exec_rep, .events = POLLIN } };
		/* The timeout only backs up SIGCHLD in noticing a death that leaves the pipe open. */
		if (poll(p, 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[1].revents)
			relay_reply();
		if (p[0].revents)
			channel_input();
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--supervise"))
		supervise(argv[2]);
	fprintf(stderr, "usage: %s --supervise auto|stdio|DEVICE\n", argv[0]);
	return 2;
}
