/*
 * uselib32: calls uselib(2) through the i386 entry (int $0x80, nr 86), the
 * only way to reach it on x86-64 (the 64-bit syscall 134 is not wired).
 * The int $0x80 ABI truncates pointers to 32 bits, so the path is copied into
 * a static buffer: this binary is linked static and non-PIE, so its data sits
 * below 4 GiB.
 *
 *   uselib32 ITEM...   one answer line per probe or path, in order:
 *     probe      "RET <getpid via int 0x80>" (a crash instead: no IA32 emulation)
 *     --64 PATH  "RET <raw return>" of the x86-64 syscall 134 (not wired: ENOSYS)
 *     --no-dac   clear CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
 *                effective set for the paths that follow; --dac raises them
 *     PATH       "RET <raw return>" of i386 uselib (negative errno)
 *     --sysctl V the O_MAYEXEC policy for what follows (mayexec-sysctl.h)
 *
 * The capability switches are here because exec gave root every capability
 * back: the suite's own capability state does not reach this process. Each
 * line is flushed at once, so a crash keeps the answers before it.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mayexec-sysctl.h"

static char path_below_4g[4096];

static long int80(long nr, long arg1)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(arg1) : "memory");
	return ret;
}

static int set_dac(int on)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	unsigned dac = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[0].effective = on ? data[0].effective | (dac & data[0].permitted) : data[0].effective & ~dac;
	return syscall(SYS_capset, &hdr, data);
}

static void answer(long ret)
{
	printf("RET %ld\n", ret);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: uselib32 {probe | --64 PATH | --no-dac | --dac | --sysctl VALUE | PATH}...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "probe") == 0) {
			answer(int80(20 /* i386 getpid */, 0));
		} else if (strcmp(a, "--64") == 0 && i + 1 < argc) {
			long r = syscall(134, argv[++i]);
			answer(r < 0 ? -errno : r);
		} else if (strcmp(a, "--sysctl") == 0 && i + 1 < argc) {
			write_mayexec_sysctl(argv[++i]);
		} else if (strcmp(a, "--no-dac") == 0 || strcmp(a, "--dac") == 0) {
			if (set_dac(a[2] == 'd')) {
				perror("capset");
				return 3;
			}
		} else {
			memset(path_below_4g, 0, sizeof(path_below_4g));
			strncpy(path_below_4g, a, sizeof(path_below_4g) - 1);
			answer(int80(86 /* i386 uselib */, (long)(unsigned long)path_below_4g));
		}
	}
	return 0;
}
