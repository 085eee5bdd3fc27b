/*
 * script-interpreter: the #! interpreter of the work mounts' scripts. Run by
 * the kernel as `script-interpreter SCRIPT`, it prints the marker the script
 * body would print under a shell ("OMX-EXECUTED SCRIPT"), so an exec row
 * sees the script run. Not /bin/sh: under software emulation the first run
 * of busybox's shell in a boot costs ~17 ms of code translation, while this
 * binary's code is already translated (the executor and exec-probe are it).
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: script-interpreter SCRIPT (run through a #! line)\n");
		return 2;
	}
	printf("OMX-EXECUTED %s\n", argv[1]);
	return 0;
}
