/*
 * iouring-open: opens files through io_uring (raw syscalls, no liburing) and
 * reports each completion, for SPEC.md §2.5: IORING_OP_OPENAT2 honours
 * O_MAYEXEC, IORING_OP_OPENAT drops it like openat(2).
 *
 *   iouring-open ITEM...
 *     (openat|openat2) FLAGS PATH: FLAGS decimal or 0x hex; one line per
 *       open: "RES <n>" (an fd, closed at once, or a negative errno)
 *     --sysctl VALUE: the policy for the opens that follow (mayexec-sysctl.h)
 *   "SETUP <errno>" and exit 3 when the kernel has no io_uring
 *   (CONFIG_IO_URING off, or io_uring_disabled).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mayexec-sysctl.h"

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void *map(int fd, size_t len, off_t what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, what);
	if (p == MAP_FAILED) {
		printf("SETUP %d\n", errno);
		exit(3);
	}
	return p;
}

static void ring_setup(struct ring *r)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	r->fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0) {
		printf("SETUP %d\n", errno);
		exit(3);
	}
	char *sq = map(r->fd, p.sq_off.array + p.sq_entries * sizeof(unsigned), IORING_OFF_SQ_RING);
	char *cq = map(r->fd, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), IORING_OFF_CQ_RING);
	r->sqes = map(r->fd, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

/* One open, submitted and waited for: the completion's result. */
static int ring_open(struct ring *r, int two, const char *path, unsigned flags)
{
	struct open_how how = { .flags = flags };
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];

	memset(sqe, 0, sizeof *sqe);
	sqe->fd = AT_FDCWD;
	sqe->addr = (uint64_t)(uintptr_t)path;
	if (two) {
		sqe->opcode = IORING_OP_OPENAT2;
		sqe->len = sizeof how;
		sqe->addr2 = (uint64_t)(uintptr_t)&how;
	} else {
		sqe->opcode = IORING_OP_OPENAT;
		sqe->open_flags = flags;
	}
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned head = __atomic_load_n(r->cq_head, __ATOMIC_ACQUIRE);
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN; /* no completion: reported, never taken as an fd */
	int res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: iouring-open {--sysctl VALUE | (openat|openat2) FLAGS PATH}...\n");
		return 2;
	}
	struct ring r;
	ring_setup(&r);
	int i = 1;
	while (i < argc) {
		if (strcmp(argv[i], "--sysctl") == 0 && i + 1 < argc) {
			write_mayexec_sysctl(argv[i + 1]);
			i += 2;
			continue;
		}
		int two = strcmp(argv[i], "openat2") == 0;
		if ((!two && strcmp(argv[i], "openat") != 0) || i + 2 >= argc) {
			fprintf(stderr, "iouring-open: bad item %s (OP FLAGS PATH expected)\n", argv[i]);
			return 2;
		}
		int res = ring_open(&r, two, argv[i + 2], (unsigned)strtoul(argv[i + 1], NULL, 0));
		printf("RES %d\n", res);
		fflush(stdout);
		if (res >= 0)
			close(res);
		i += 3;
	}
	return 0;
}
