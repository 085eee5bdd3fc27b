/*
 * /init of the conformance guest (PID 1; /init is a symlink to the
 * multi-call binary): mount the pseudo filesystems, load the kernel
 * modules shipped with the kernel under test (/omx/modules, in name order),
 * then run the executor's supervisor on the channel and reboot when it
 * ends (QEMU runs with -no-reboot: the VM exits). In C rather than a
 * busybox script: every command of a script is a fork and an exec, several
 * milliseconds each under software emulation.
 *
 * Console lines the host reads: "OMX-CONSOLE init reached uptime=S",
 * "OMX-CONSOLE modules loaded uptime=S" (when there were modules) and
 * "OMX-CONSOLE executor exit=N".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int omx_executor_main(int argc, char **argv);

static void mount_or_say(const char *type, const char *dir, const char *opts, int optional)
{
	if (mount(type, dir, type, 0, opts) && !optional)
		dprintf(2, "init: mount -t %s %s: %s\n", type, dir, strerror(errno));
}

/* The first line of a small file, without its newline; "" when unreadable. */
static void read_line(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, out, size - 1);
	if (fd >= 0)
		close(fd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static int is_module(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 3 && strcmp(d->d_name + n - 3, ".ko") == 0;
}

/* Loads every .ko of dir in name order; returns how many there were. */
static int load_modules(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, is_module, alphasort);
	for (int i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
			dprintf(2, "init: insmod %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return n;
}

/* omx.channel=PATH on the command line forces a channel (tests of the fallback). */
static void channel_from_cmdline(char *out, size_t size)
{
	char cmdline[4096];
	snprintf(out, size, "auto");
	read_line("/proc/cmdline", cmdline, sizeof cmdline);
	for (char *tok = strtok(cmdline, " "); tok; tok = strtok(NULL, " "))
		if (strncmp(tok, "omx.channel=", 12) == 0)
			snprintf(out, size, "%s", tok + 12);
}

int guest_init_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	setenv("PATH", "/bin:/usr/bin", 1);
	mount_or_say("proc", "/proc", NULL, 0);
	mount_or_say("sysfs", "/sys", NULL, 0);
	mount_or_say("devtmpfs", "/dev", NULL, 0);
	mount_or_say("tmpfs", "/tmp", "mode=1777", 0);
	mount_or_say("securityfs", "/sys/kernel/security", NULL, 1);
	char uptime[64];
	read_line("/proc/uptime", uptime, sizeof uptime);
	uptime[strcspn(uptime, " ")] = '\0';
	printf("OMX-CONSOLE init reached uptime=%s\n", uptime);
	fflush(stdout);
	if (load_modules("/omx/modules") > 0) {
		read_line("/proc/uptime", uptime, sizeof uptime);
		uptime[strcspn(uptime, " ")] = '\0';
		printf("OMX-CONSOLE modules loaded uptime=%s\n", uptime);
		fflush(stdout);
	}
	char channel[256];
	channel_from_cmdline(channel, sizeof channel);
	pid_t supervisor = fork();
	if (supervisor == 0) {
		char *args[] = { "/omx/executor", "--supervise", channel, NULL };
		_exit(omx_executor_main(3, args));
	}
	int status = 0;
	/* PID 1 also reaps the orphans the tests leave behind. */
	for (;;) {
		pid_t pid = wait(&status);
		if (pid == supervisor || (pid < 0 && errno == ECHILD))
			break;
	}
	printf("OMX-CONSOLE executor exit=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 1;
}
