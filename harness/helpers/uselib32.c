/*
 * uselib32: calls uselib(2) through the i386 entry (int $0x80, nr 86), the
 * only way to reach it on x86-64 (the 64-bit syscall 134 is not wired).
 * The int $0x80 ABI truncates pointers to 32 bits, so the path is copied into
 * a static buffer: this binary is linked static and non-PIE, so its data sits
 * below 4 GiB.
 *
 *   uselib32 probe                -> "RET <getpid via int 0x80>" (a crash: no IA32 emulation)
 *   uselib32 [--no-dac] PATH...   -> "RET <raw return>" per path, in order (negative errno)
 *
 * --no-dac clears CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the effective
 * set first: exec gave root every capability back, so the suite's own
 * capability state does not reach this process.
 */
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char path_below_4g[4096];

static long int80(long nr, long arg1)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(arg1) : "memory");
	return ret;
}

static int drop_dac(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
	return syscall(SYS_capset, &hdr, data);
}

int main(int argc, char **argv)
{
	int first = 1;

	if (argc == 2 && strcmp(argv[1], "probe") == 0) {
		printf("RET %ld\n", int80(20 /* i386 getpid */, 0));
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--no-dac") == 0) {
		if (drop_dac()) {
			perror("capset");
			return 3;
		}
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: uselib32 probe | [--no-dac] PATH...\n");
		return 2;
	}
	for (int i = first; i < argc; i++) {
		memset(path_below_4g, 0, sizeof(path_below_4g));
		strncpy(path_below_4g, argv[i], sizeof(path_below_4g) - 1);
		printf("RET %ld\n", int80(86 /* i386 uselib */, (long)(unsigned long)path_below_4g));
	}
	return 0;
}
