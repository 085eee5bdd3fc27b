/*
 * exec-probe: issues execve/execveat calls and reports each errno on stdout.
 * Each call runs in a forked child, so that an exec the kernel wrongly allows
 * replaces that child and never the suite. One helper process serves a whole
 * batch of probes: starting node's child processes is what costs time in an
 * emulated guest, fork is cheap.
 *
 *   exec-probe PROBE [-- PROBE]...
 *     PROBE = execve PATH
 *           | execveat DIRFD|cwd PATH FLAGS   (FLAGS decimal or 0x hex)
 *
 * For probe i (from 1) it prints "PROBE <i> " followed by the child's first
 * output line: "ERRNO <n>" when the call failed, "RETURNED 0" when execveat
 * returned 0 (AT_EXECVE_CHECK), or whatever the executed target printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs in the child; returns only when no exec happened. */
static int run_probe(int argc, char **argv)
{
	char *child_argv[] = { "exec-probe-target", NULL };
	char *child_envp[] = { "PATH=/bin:/usr/bin", NULL };
	long ret;

	if (argc == 2 && strcmp(argv[0], "execve") == 0) {
		ret = syscall(SYS_execve, argv[1], child_argv, child_envp);
	} else if (argc == 4 && strcmp(argv[0], "execveat") == 0) {
		int dirfd = strcmp(argv[1], "cwd") == 0 ? -100 : atoi(argv[1]);

		ret = syscall(SYS_execveat, dirfd, argv[2], child_argv, child_envp, strtol(argv[3], NULL, 0));
	} else {
		printf("USAGE\n");
		return 2;
	}
	printf(ret == 0 ? "RETURNED 0\n" : "ERRNO %d\n", errno);
	return 0;
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
		char buf[256];
		ssize_t n;
		pid_t pid;

		while (end < argc && strcmp(argv[end], "--") != 0)
			end++;
		index++;
		if (pipe(pipefd))
			return 3;
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			close(pipefd[0]);
			dup2(pipefd[1], 1);
			dup2(pipefd[1], 2);
			exit(run_probe(end - start, argv + start));
		}
		close(pipefd[1]);
		/* Keep the start of what the child prints, drain the rest to EOF. */
		size_t got = 0;
		char scratch[256];
		while ((n = read(pipefd[0], got < sizeof(buf) - 1 ? buf + got : scratch,
				 got < sizeof(buf) - 1 ? sizeof(buf) - 1 - got : sizeof(scratch))) > 0)
			if (got < sizeof(buf) - 1)
				got += n;
		buf[got] = '\0';
		close(pipefd[0]);
		waitpid(pid, NULL, 0);
		buf[strcspn(buf, "\n")] = '\0';
		printf("PROBE %d %s\n", index, buf[0] ? buf : "NO-OUTPUT");
		start = end + 1;
	}
	return 0;
}
