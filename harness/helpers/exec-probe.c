/*
 * exec-probe: issues one execve/execveat and reports the errno on stdout.
 * A separate process, so that an exec the kernel wrongly allows replaces this
 * helper and never the suite. Prints "ERRNO <n>" on failure; on success the
 * target runs (suites give targets a body that prints a marker).
 *
 *   exec-probe execve PATH
 *   exec-probe execveat DIRFD|cwd PATH FLAGS   (FLAGS in decimal or 0x hex)
 *   exec-probe securebits                      prints "SECUREBITS <n>" (inherited
 *                                              across the fork and exec that started it)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *child_argv[] = { "exec-probe-target", NULL };
	char *child_envp[] = { NULL };
	long ret;

	if (argc == 2 && strcmp(argv[1], "securebits") == 0) {
		printf("SECUREBITS %d\n", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "execve") == 0) {
		ret = syscall(SYS_execve, argv[2], child_argv, child_envp);
	} else if (argc == 5 && strcmp(argv[1], "execveat") == 0) {
		int dirfd = strcmp(argv[2], "cwd") == 0 ? -100 : atoi(argv[2]);
		long flags = strtol(argv[4], NULL, 0);
		ret = syscall(SYS_execveat, dirfd, argv[3], child_argv, child_envp, flags);
	} else {
		fprintf(stderr, "usage: exec-probe execve PATH | execveat DIRFD PATH FLAGS\n");
		return 2;
	}
	/* Only reached when the exec failed (or AT_EXECVE_CHECK returned 0). */
	printf(ret == 0 ? "RETURNED 0\n" : "ERRNO %d\n", errno);
	return 0;
}
