/*
 * exec-probe: issues execve/execveat calls and reports each errno on stdout.
 * Each call runs in a vfork child, so that an exec the kernel wrongly allows
 * replaces that child and never the suite. One helper process serves a whole
 * batch of probes. vfork, not fork: the child shares our memory until it
 * execs or exits, so no page tables are copied and no copy-on-write faults
 * follow, which under software emulation made a fork cost most of a probe.
 * The child only dup2s, execs and stores errno where we can read it.
 *
 *   exec-probe PROBE [-- PROBE]...
 *     PROBE = execve PATH
 *           | execveat DIRFD|cwd PATH FLAGS   (FLAGS decimal or 0x hex)
 *
 * For probe i (from 1) it prints "PROBE <i> " followed by "ERRNO <n>" when
 * the call failed, "RETURNED 0" when execveat returned 0 (AT_EXECVE_CHECK),
 * or the first line the executed target printed ("NO-OUTPUT" if none).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct probe {
	long nr;
	int dirfd;
	const char *path;
	long flags;
};

/* The vfork child's verdict, read by the parent once the child is gone. */
enum { EXECUTED = -1, RETURNED = -2 };
static volatile int child_result;

static int parse_probe(int argc, char **argv, struct probe *p)
{
	if (argc == 2 && strcmp(argv[0], "execve") == 0) {
		*p = (struct probe){ .nr = SYS_execve, .dirfd = -100, .path = argv[1], .flags = 0 };
		return 0;
	}
	if (argc == 4 && strcmp(argv[0], "execveat") == 0) {
		int dirfd = strcmp(argv[1], "cwd") == 0 ? -100 : atoi(argv[1]);
		*p = (struct probe){ .nr = SYS_execveat, .dirfd = dirfd, .path = argv[2], .flags = strtol(argv[3], NULL, 0) };
		return 0;
	}
	return -1;
}

/* In the vfork child: nothing but syscalls and a store to child_result. */
static void __attribute__((noreturn)) run_probe(const struct probe *p, int out)
{
	static char *child_argv[] = { "exec-probe-target", NULL };
	static char *child_envp[] = { "PATH=/bin:/usr/bin", NULL };
	long ret;

	child_result = EXECUTED;
	if (dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(3);
	if (p->nr == SYS_execve)
		ret = syscall(SYS_execve, p->path, child_argv, child_envp);
	else
		ret = syscall(SYS_execveat, p->dirfd, p->path, child_argv, child_envp, p->flags);
	child_result = ret == 0 ? RETURNED : errno;
	_exit(0);
}

/* The child never returns from here: it execs or _exits inside run_probe. */
static pid_t start_probe(const struct probe *p, int out)
{
	pid_t pid = vfork();

	if (pid == 0)
		run_probe(p, out);
	return pid;
}

/* The start of what the executed target printed (to EOF), first line only. */
static void read_first_line(int fd, char *buf, size_t size)
{
	size_t got = 0;
	char scratch[256];
	ssize_t n;

	while ((n = read(fd, got < size - 1 ? buf + got : scratch, got < size - 1 ? size - 1 - got : sizeof(scratch))) > 0)
		if (got < size - 1)
			got += n;
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int main(int argc, char **argv)
{
	int start = 1, index = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: exec-probe PROBE [-- PROBE]...\n");
		return 2;
	}
	while (start < argc) {
		int end = start, pipefd[2];
		struct probe p;
		char buf[256];

		while (end < argc && strcmp(argv[end], "--") != 0)
			end++;
		index++;
		if (parse_probe(end - start, argv + start, &p)) {
			printf("PROBE %d USAGE\n", index);
			start = end + 1;
			continue;
		}
		if (pipe2(pipefd, O_CLOEXEC))
			return 3;
		fflush(stdout);
		child_result = EXECUTED;
		pid_t pid = start_probe(&p, pipefd[1]);
		close(pipefd[1]);
		if (pid < 0)
			return 3;
		read_first_line(pipefd[0], buf, sizeof buf);
		close(pipefd[0]);
		waitpid(pid, NULL, 0);
		if (child_result == RETURNED)
			printf("PROBE %d RETURNED 0\n", index);
		else if (child_result >= 0)
			printf("PROBE %d ERRNO %d\n", index, child_result);
		else
			printf("PROBE %d %s\n", index, buf[0] ? buf : "NO-OUTPUT");
		start = end + 1;
	}
	return 0;
}
