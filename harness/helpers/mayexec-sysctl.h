/*
 * "--sysctl VALUE" for the helpers that run rows under several policy
 * values in one process: writes VALUE to fs.open_mayexec_enforce and
 * answers "SYSCTL VALUE 0", or "SYSCTL VALUE -errno" when the write failed.
 * The host reads the answer (a failed write is a fixture error, never a
 * row result) and writes back the value it saved once the helper is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_mayexec_sysctl(const char *value)
{
	int err = 0;
	int fd = open("/proc/sys/fs/open_mayexec_enforce", O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		err = errno;
	} else {
		if (write(fd, value, strlen(value)) < 0)
			err = errno;
		close(fd);
	}
	printf("SYSCTL %s %d\n", value, -err);
	fflush(stdout);
	return err;
}
