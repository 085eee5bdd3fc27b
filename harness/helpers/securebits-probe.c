/*
 * securebits-probe: runs one securebits scenario in a fresh process, so that
 * locked bits and dropped capabilities never reach the suite.
 *
 *   securebits-probe [--unpriv] STEP...
 *     --unpriv      first lock SECBIT_NOROOT and drop every capability
 *     set:0xBITS    prctl(PR_SET_SECUREBITS, base | BITS) -> "ok" or errno name
 *     get           prctl(PR_GET_SECUREBITS)              -> "0x..."
 *     inherited     value seen by a forked and exec'd child (this program's
 *                   "get" in a child started with fork + execve)
 *
 * Prints "BASE 0x..." then one "STEP <i> <result>" line per step.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	default: return "E?";
	}
}

static int become_unprivileged(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (prctl(PR_SET_SECUREBITS, 0x1 | 0x2, 0, 0, 0))
		return -1;
	memset(data, 0, sizeof(data));
	return syscall(SYS_capset, &hdr, data);
}

static void inherited(const char *self, int i)
{
	int pipefd[2];
	char buf[64] = "";
	pid_t pid;
	ssize_t n;

	if (pipe(pipefd))
		return;
	pid = fork();
	if (pid == 0) {
		char *argv[] = { (char *)self, "get", NULL };
		char *envp[] = { NULL };

		dup2(pipefd[1], 1);
		execve(self, argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	waitpid(pid, NULL, 0);
	/* The child prints "BASE ..." then "STEP 1 0x..."; keep the value. */
	buf[n > 0 ? n : 0] = '\0';
	{
		char *step = strstr(buf, "STEP 1 ");
		printf("STEP %d %s", i, step ? step + 7 : "no-answer\n");
	}
}

int main(int argc, char **argv)
{
	int first = 1, base;

	if (argc > 1 && strcmp(argv[1], "--unpriv") == 0) {
		if (become_unprivileged()) {
			printf("SETUP-FAILED %s\n", err_name(errno));
			return 3;
		}
		first = 2;
	}
	base = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	printf("BASE 0x%x\n", base);
	for (int i = first; i < argc; i++) {
		int step = i - first + 1;

		if (strncmp(argv[i], "set:", 4) == 0) {
			unsigned long bits = strtoul(argv[i] + 4, NULL, 0);
			int r = prctl(PR_SET_SECUREBITS, base | bits, 0, 0, 0);

			printf("STEP %d %s\n", step, r ? err_name(errno) : "ok");
		} else if (strcmp(argv[i], "get") == 0) {
			printf("STEP %d 0x%x\n", step, prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
		} else if (strcmp(argv[i], "inherited") == 0) {
			fflush(stdout);
			inherited(argv[0][0] == '/' ? argv[0] : "/proc/self/exe", step);
		} else {
			fprintf(stderr, "unknown step %s\n", argv[i]);
			return 2;
		}
		fflush(stdout);
	}
	return 0;
}
