/*
 * uselib32: calls uselib(2) through the i386 entry (int $0x80, nr 86), the
 * only way to reach it on x86-64 (the 64-bit syscall 134 is not wired).
 * The int $0x80 ABI truncates pointers to 32 bits, so the path is copied into
 * a static buffer: this binary is linked static and non-PIE, so its data sits
 * below 4 GiB.
 *
 *   uselib32 probe   -> "RET <getpid via int 0x80>" (a crash means no IA32 emulation)
 *   uselib32 PATH    -> "RET <raw return>" (negative errno on failure)
 */
#include <stdio.h>
#include <string.h>

static char path_below_4g[4096];

static long int80(long nr, long arg1)
{
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(arg1) : "memory");
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: uselib32 probe | PATH\n");
		return 2;
	}
	if (strcmp(argv[1], "probe") == 0) {
		printf("RET %ld\n", int80(20 /* i386 getpid */, 0));
		return 0;
	}
	strncpy(path_below_4g, argv[1], sizeof(path_below_4g) - 1);
	printf("RET %ld\n", int80(86 /* i386 uselib */, (long)(unsigned long)path_below_4g));
	return 0;
}
