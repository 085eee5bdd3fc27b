/*
 * One static binary for the executor and the helpers, picked by the name it
 * was run as (busybox style): /omx/helpers/NAME are symlinks to it. Four
 * static glibc copies cost the initramfs ~2.3 MB, which the guest kernel
 * unpacks at every boot; one costs ~0.9 MB.
 */
#include <string.h>

int omx_executor_main(int argc, char **argv);
int guest_init_main(int argc, char **argv);
int exec_probe_main(int argc, char **argv);
int securebits_probe_main(int argc, char **argv);
int uselib32_main(int argc, char **argv);
int iouring_open_main(int argc, char **argv);
int script_interpreter_main(int argc, char **argv);

static const struct {
	const char *name;
	int (*main)(int, char **);
} programs[] = {
	{ "init", guest_init_main },
	{ "exec-probe", exec_probe_main },
	{ "securebits-probe", securebits_probe_main },
	{ "uselib32", uselib32_main },
	{ "iouring-open", iouring_open_main },
	{ "script-interpreter", script_interpreter_main },
};

int main(int argc, char **argv)
{
	const char *slash = argc ? strrchr(argv[0], '/') : NULL;
	const char *name = slash ? slash + 1 : argc ? argv[0] : "";

	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		if (strcmp(name, programs[i].name) == 0)
			return programs[i].main(argc, argv);
	return omx_executor_main(argc, argv);
}
