/*
 * asan_init_first.c
 *		Initialises AddressSanitizer before any other library's constructor.
 *
 * The sanitizer pass of scripts/test.sh preloads gcc's libasan into the
 * postmaster (an instrumented extension cannot be loaded otherwise).  A
 * preloaded library is initialised after the libraries the executable
 * needs, and the postgres binary needs libgpg-error and gnutls, whose
 * constructors call bindtextdomain(); its first malloc() then initialises
 * ASan lazily, ASan's start-up calls dlerror(), which takes glibc's
 * gettext lock that bindtextdomain() already holds, and the process hangs
 * before main().  This library is linked with -z initfirst, which glibc
 * honours by running its constructor before every other one, and that
 * constructor initialises ASan while no lock is held.
 *
 * Built and preloaded by scripts/lib.sh (dfw_sanitizer_cluster) only.
 */
extern void __asan_init(void);

__attribute__((constructor))
static void
asan_init_first(void)
{
	__asan_init();
}
