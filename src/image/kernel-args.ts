// Kernel command line of our guest image: the fast-boot options every guest gets, and the
// fth.* parameters its init (vm-images/init.sh) reads.

/** Kernel parameters that shorten a TCG boot (measured: see bench:boot / README). */
// init_on_alloc=0: Debian zeroes every allocation by default, slow under TCG; the guests run no
// untrusted code. apparmor=0, ipv6.disable=1: unused here, and their set-up costs boot time.
export const FAST_BOOT_ARGS = 'console=ttyS0 quiet mitigations=off tsc=reliable no_timer_check nowatchdog audit=0 acpi=noirq rcupdate.rcu_expedited=1 cryptomgr.notests init_on_alloc=0 apparmor=0 ipv6.disable=1';
