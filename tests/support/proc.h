/* Test fixture: start the project's programs as real child processes, signal
 * them, and wait for conditions with a deadline instead of sleeping. */
#ifndef TESTS_PROC_H
#define TESTS_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc {
    pid_t pid;          /* 0 when not running */
    char out_path[256]; /* file holding the child's stdout+stderr */
};

/* Starts `argv[0]` (a path; a bare name is looked up in $FLEET_BIN_DIR and its
 * subdirectories ctl/ sim/ agent/) with extra environment `envp_extra`
 * ("K=V" strings, NULL-terminated, may be NULL). Output goes to a temp file.
 * Returns 0, or -1 with a message on stderr. */
int proc_start(struct proc *p, char *const argv[], char *const envp_extra[]);

/* Sends `sig`; returns 0 or -1 (not running). */
int proc_signal(struct proc *p, int sig);

/* Waits up to `timeout_ms` for exit. Returns the wait status (>= 0), or -1 on
 * timeout (the child keeps running). */
int proc_wait(struct proc *p, int timeout_ms);

/* SIGKILLs (if running), reaps, and removes the output file. */
void proc_kill(struct proc *p);

/* Returns a malloc'd copy of everything the child printed so far (caller frees). */
char *proc_output(const struct proc *p);

/* True once `proc_output` contains `needle`, polling every 10 ms up to
 * `timeout_ms`. */
bool proc_wait_output(const struct proc *p, const char *needle, int timeout_ms);

/* True when the child printed no sanitizer report (ASan, UBSan, LSan,
 * TSan), so sanitizer builds of the real binaries fail tests; otherwise
 * prints the report to stderr and returns false. */
bool proc_output_clean(const struct proc *p);

/* Runs `argv` (as proc_start, no extra environment) to its end, waiting up
 * to `timeout_ms`; a child still running then is killed. Returns its wait
 * status (>= 0), or -1: it did not start (a message on stderr) or did not
 * exit in time. When not NULL, *output gets everything it printed, malloc'd
 * (caller frees; NULL when it did not start), and *clean whether that had no
 * sanitizer report (proc_output_clean). Nothing is left running or on disk. */
int proc_run(char *const argv[], int timeout_ms, char **output, bool *clean);

/* Resolves a program name as proc_start does into `out`; returns 0 or -1. */
int proc_find_program(const char *name, char *out, size_t n);

/* Monotonic milliseconds. */
int64_t proc_now_ms(void);
/* User + system CPU time in ns of process `pid` (tid 0), or of its thread
 * `tid` (tid == pid: the main thread), from /proc; -1 when unreadable. */
int64_t proc_cpu_ns(pid_t pid, pid_t tid);
/* Integer field `key` ("VmRSS", "voluntary_ctxt_switches") of the /proc
 * status file of process `pid` (tid 0) or of its thread `tid`; -1 when
 * unreadable (gone) or absent. */
int64_t proc_status_field(pid_t pid, pid_t tid, const char *key);
/* VmRSS of process `pid` in KiB, or -1 (gone). */
int64_t proc_rss_kb(pid_t pid);

/* Polls `cond(arg)` every `step_ms` until it is true or `timeout_ms` passed. */
bool proc_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms, int step_ms);

#endif
