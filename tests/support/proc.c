#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t proc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens /proc/<pid>/<name> (tid 0) or /proc/<pid>/task/<tid>/<name> for
 * reading; NULL when it cannot (the process or thread is gone). */
static FILE *proc_file_open(pid_t pid, pid_t tid, const char *name)
{
    char path[96];

    if (tid == 0)
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    else
        snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid, name);
    return fopen(path, "re");
}

int64_t proc_cpu_ns(pid_t pid, pid_t tid)
{
    char buf[1024], *p;
    unsigned long utime, stime;
    size_t n;
    FILE *f = proc_file_open(pid, tid, "stat");

    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (int64_t)(utime + stime) * (1000000000 / sysconf(_SC_CLK_TCK));
}

int64_t proc_status_field(pid_t pid, pid_t tid, const char *key)
{
    char line[256];
    size_t klen = strlen(key);
    int64_t v = -1;
    FILE *f = proc_file_open(pid, tid, "status");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ':' && sscanf(line + klen + 1, "%" SCNd64, &v) == 1)
            break;
    fclose(f);
    return v;
}

int64_t proc_rss_kb(pid_t pid)
{
    return proc_status_field(pid, 0, "VmRSS");
}

int proc_find_program(const char *name, char *out, size_t n)
{
    static const char *const subdirs[] = { "", "/daemon", "/ctl", "/sim", "/agent" };
    const char *bin = getenv("FLEET_BIN_DIR");

    if (strchr(name, '/') != NULL) {
        snprintf(out, n, "%s", name);
        return 0;
    }
    if (bin == NULL) {
        fprintf(stderr, "proc: FLEET_BIN_DIR is not set (run the tests through ctest)\n");
        return -1;
    }
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        snprintf(out, n, "%s%s/%s", bin, subdirs[i], name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    fprintf(stderr, "proc: no program %s under %s\n", name, bin);
    return -1;
}

int proc_start(struct proc *p, char *const argv[], char *const envp_extra[])
{
    char path[512];
    int fd;
    pid_t pid;

    memset(p, 0, sizeof(*p));
    if (proc_find_program(argv[0], path, sizeof(path)) != 0)
        return -1;
    snprintf(p->out_path, sizeof(p->out_path), "/tmp/fleet-proc-XXXXXX");
    fd = mkstemp(p->out_path);
    if (fd < 0) {
        fprintf(stderr, "proc: mkstemp: %s\n", strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        close(fd);
        unlink(p->out_path);
        return -1;
    }
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        setpgid(0, 0);
        for (size_t i = 0; envp_extra != NULL && envp_extra[i] != NULL; i++)
            putenv(envp_extra[i]);
        execv(path, argv);
        fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fd);
    p->pid = pid;
    return 0;
}

int proc_signal(struct proc *p, int sig)
{
    if (p->pid <= 0)
        return -1;
    return kill(p->pid, sig);
}

int proc_wait(struct proc *p, int timeout_ms)
{
    int64_t deadline = proc_now_ms() + timeout_ms;
    int st;

    if (p->pid <= 0)
        return -1;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);

        if (r == p->pid) {
            p->pid = 0;
            return st;
        }
        if (proc_now_ms() >= deadline)
            return -1;
        usleep(5000);
    }
}

void proc_kill(struct proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    if (p->out_path[0] != '\0' && getenv("FLEET_KEEP_LOGS") == NULL)
        unlink(p->out_path);
}

char *proc_output(const struct proc *p)
{
    FILE *f = fopen(p->out_path, "r");
    char *buf;
    long len;

    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    if (buf != NULL) {
        size_t got = fread(buf, 1, (size_t)len, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

bool proc_wait_output(const struct proc *p, const char *needle, int timeout_ms)
{
    int64_t deadline = proc_now_ms() + timeout_ms;

    do {
        char *out = proc_output(p);
        bool found = out != NULL && strstr(out, needle) != NULL;

        free(out);
        if (found)
            return true;
        usleep(10000);
    } while (proc_now_ms() < deadline);
    return false;
}

bool proc_output_clean(const struct proc *p)
{
    static const char *const markers[] = {
        "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer", "runtime error:",
    };
    char *out = proc_output(p);
    bool clean = true;

    for (size_t k = 0; out != NULL && k < sizeof(markers) / sizeof(markers[0]); k++) {
        const char *at = strstr(out, markers[k]);

        if (at != NULL) {
            fprintf(stderr, "sanitizer report from %s:\n%.4000s\n", p->out_path, at);
            clean = false;
        }
    }
    free(out);
    return clean;
}

int proc_run(char *const argv[], int timeout_ms, char **output, bool *clean)
{
    struct proc p;
    int st;

    if (output != NULL)
        *output = NULL;
    if (clean != NULL)
        *clean = false;
    if (proc_start(&p, argv, NULL) != 0)
        return -1;
    st = proc_wait(&p, timeout_ms);
    if (output != NULL)
        *output = proc_output(&p);
    if (clean != NULL)
        *clean = proc_output_clean(&p);
    proc_kill(&p);
    return st;
}

bool proc_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms, int step_ms)
{
    int64_t deadline = proc_now_ms() + timeout_ms;

    do {
        if (cond(arg))
            return true;
        usleep((useconds_t)step_ms * 1000);
    } while (proc_now_ms() < deadline);
    return cond(arg);
}
