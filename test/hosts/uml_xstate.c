/* Preloaded into linux.uml (lvmhosts.sh): Debian 12's user-mode-linux (6.1) cannot start on a
 * host CPU whose XSAVE area is larger than its own buffer (AMX: 11 KiB): it writes its
 * processes' FPU state back with PTRACE_SETREGSET NT_X86_XSTATE in its smaller size, which the
 * host kernel refuses (EFAULT: only the full size is accepted), and init dies at once
 * ("ptrace set fp regs failed, errno = 14"). Here such a write is completed to the host's
 * size: the tracee's current full state is read, the part UML knows is laid over its start,
 * and the whole is written. Every other ptrace request goes through unchanged. Reads need no
 * help: the kernel truncates them to the caller's buffer.
 * Later kernels size the buffer from the host (the fix upstream); on a host whose area fits
 * UML's buffer this changes nothing. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long raw(long req, pid_t pid, void *addr, void *data) { return syscall(SYS_ptrace, req, pid, addr, data); }

long ptrace(enum __ptrace_request req, ...) {
    va_list ap;
    va_start(ap, req);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if (req == PTRACE_PEEKTEXT || req == PTRACE_PEEKDATA || req == PTRACE_PEEKUSER) {
        long word; /* glibc's convention: the word is the return value */
        if (raw(req, pid, addr, &word) < 0) return -1;
        errno = 0;
        return word;
    }
    if (req == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data) {
        static unsigned char full[64 * 1024];
        struct iovec *given = data, whole = {full, sizeof full};
        if (raw(PTRACE_GETREGSET, pid, (void *)(long)NT_X86_XSTATE, &whole) == 0 && given->iov_len < whole.iov_len) {
            memcpy(full, given->iov_base, given->iov_len);
            return raw(PTRACE_SETREGSET, pid, addr, &whole);
        }
    }
    return raw(req, pid, addr, data);
}
