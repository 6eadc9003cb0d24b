/* Health checks of the child: HTTP (libcurl easy API through curlapi.c's
 * table, on a thread of its
 * own because a GET blocks up to its timeout) and exec ("/bin/sh -c CMD",
 * a child process driven by the main loop, whose reaper must see it).
 * A check passes on HTTP 2xx/3xx or exit status 0; each must finish within
 * the check period. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* Formats a check's detail, cut to fit: details are for humans. */
static void set_detail(struct check_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_detail(struct check_result *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

/* ---- HTTP -------------------------------------------------------------- */

struct http_check {
    const struct curl_api *api;
    char *url;
    uint32_t period_ms;
    struct mailbox *mb;
    pthread_t thread;
    pthread_mutex_t lock;       /* guards gen, stop */
    pthread_cond_t wake;        /* CLOCK_MONOTONIC */
    uint64_t gen;
    bool stop;
};

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* One GET; fills `r->ok` and `r->detail`. */
static void http_once(struct http_check *hc, CURL *curl, struct check_result *r)
{
    const struct curl_api *api = hc->api;
    char err[CURL_ERROR_SIZE] = "";
    long code = 0;
    CURLcode rc;

    api->easy_setopt(curl, CURLOPT_URL, hc->url);
    api->easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)hc->period_ms);
    api->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);   /* threads: no SIGALRM for DNS timeouts */
    api->easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    api->easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
    api->easy_setopt(curl, CURLOPT_USERAGENT, "fleet-agent");
    rc = api->easy_perform(curl);
    if (rc != CURLE_OK) {
        r->ok = false;
        set_detail(r, "GET %s: %s", hc->url, err[0] != '\0' ? err : api->easy_strerror(rc));
        return;
    }
    api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    r->ok = code >= 200 && code < 400;
    set_detail(r, "GET %s: %ld", hc->url, code);
}

static void *http_main(void *arg)
{
    struct http_check *hc = arg;
    CURL *curl = hc->api->easy_init();
    struct timespec due;

    clock_gettime(CLOCK_MONOTONIC, &due);
    pthread_mutex_lock(&hc->lock);
    while (!hc->stop) {
        struct check_result r = { 0 };
        int wait_err = 0;

        due.tv_sec += hc->period_ms / 1000;
        due.tv_nsec += (long)(hc->period_ms % 1000) * 1000000L;
        if (due.tv_nsec >= 1000000000L) {
            due.tv_sec++;
            due.tv_nsec -= 1000000000L;
        }
        while (!hc->stop && wait_err != ETIMEDOUT)
            wait_err = pthread_cond_timedwait(&hc->wake, &hc->lock, &due);
        if (hc->stop || hc->gen == 0)
            continue;
        r.gen = hc->gen;
        pthread_mutex_unlock(&hc->lock);
        if (curl == NULL) {
            set_detail(&r, "GET %s: curl_easy_init failed", hc->url);
        } else {
            hc->api->easy_reset(curl);
            http_once(hc, curl, &r);
        }
        mailbox_post_http(hc->mb, &r);
        pthread_mutex_lock(&hc->lock);
        clock_gettime(CLOCK_MONOTONIC, &due);   /* the next period starts when this one ended */
    }
    pthread_mutex_unlock(&hc->lock);
    if (curl != NULL)
        hc->api->easy_cleanup(curl);
    return NULL;
}

int http_check_start(const struct curl_api *curl, const char *url, uint32_t period_ms, struct mailbox *mb,
                     struct http_check **out)
{
    struct http_check *hc = calloc(1, sizeof(*hc));
    pthread_condattr_t attr;
    sigset_t all, old;
    int e;

    if (hc == NULL)
        return ENOMEM;
    hc->api = curl;
    hc->period_ms = period_ms;
    hc->mb = mb;
    hc->url = strdup(url);
    if (hc->url == NULL) {
        e = ENOMEM;
        goto out_free_hc;
    }
    e = pthread_mutex_init(&hc->lock, NULL);
    if (e != 0)
        goto out_free_url;
    e = pthread_condattr_init(&attr);
    if (e != 0)
        goto out_destroy_lock;
    e = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (e == 0)
        e = pthread_cond_init(&hc->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (e != 0)
        goto out_destroy_lock;
    /* Every signal blocked: they belong to the main loop's signalfd. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&hc->thread, NULL, http_main, hc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0)
        goto out_destroy_cond;
    *out = hc;
    return 0;

out_destroy_cond:
    pthread_cond_destroy(&hc->wake);
out_destroy_lock:
    pthread_mutex_destroy(&hc->lock);
out_free_url:
    free(hc->url);
out_free_hc:
    free(hc);
    return e;
}

void http_check_set_gen(struct http_check *hc, uint64_t gen)
{
    if (hc == NULL)
        return;
    pthread_mutex_lock(&hc->lock);
    hc->gen = gen;
    pthread_mutex_unlock(&hc->lock);
}

void http_check_stop(struct http_check *hc)
{
    if (hc == NULL)
        return;
    pthread_mutex_lock(&hc->lock);
    hc->stop = true;
    pthread_cond_signal(&hc->wake);
    pthread_mutex_unlock(&hc->lock);
    pthread_join(hc->thread, NULL);     /* at most one GET timeout */
    pthread_cond_destroy(&hc->wake);
    pthread_mutex_destroy(&hc->lock);
    free(hc->url);
    free(hc);
}

/* ---- exec -------------------------------------------------------------- */

void exec_check_init(struct exec_check *ec, const char *cmd, uint32_t period_ms)
{
    memset(ec, 0, sizeof(*ec));
    ec->cmd = cmd;
    ec->period_ms = period_ms;
    ec->fd = -1;
}

int exec_check_run(struct exec_check *ec, uint64_t gen, int64_t now_ms)
{
    char *argv[] = { "/bin/sh", "-c", (char *)ec->cmd, NULL };
    int devnull, pipefd[2];
    int e;

    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return errno;
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        e = errno;
        goto out_close_devnull;
    }
    e = child_spawn(argv[0], argv, devnull, devnull, pipefd[1], &ec->pid);
    close(pipefd[1]);
    if (e != 0) {
        close(pipefd[0]);
        goto out_close_devnull;
    }
    ec->fd = pipefd[0];
    ec->gen = gen;
    ec->deadline_ms = now_ms + ec->period_ms;
    ec->next_due_ms = 0;
    ec->timed_out = false;
    ec->err_len = 0;
    ec->err[0] = '\0';
out_close_devnull:
    close(devnull);
    return e;
}

void exec_check_read(struct exec_check *ec)
{
    char buf[512];

    while (ec->fd >= 0) {
        ssize_t n = read(ec->fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {   /* EOF or broken: done reading */
                close(ec->fd);
                ec->fd = -1;
            }
            return;
        }
        for (ssize_t i = 0; i < n && ec->err_len < sizeof(ec->err) - 1; i++)
            ec->err[ec->err_len++] = buf[i];
        ec->err[ec->err_len] = '\0';
    }
}

void exec_check_expire(struct exec_check *ec, int64_t now_ms)
{
    if (ec->pid <= 0 || now_ms < ec->deadline_ms || ec->timed_out)
        return;
    ec->timed_out = true;
    (void)child_signal_group(ec->pid, SIGKILL);
}

void exec_check_finish(struct exec_check *ec, int status, int64_t now_ms, struct check_result *out)
{
    char *nl;

    exec_check_read(ec);                /* what is already there; grandchildren may hold the pipe */
    if (ec->fd >= 0) {
        close(ec->fd);
        ec->fd = -1;
    }
    (void)child_signal_group(ec->pid, SIGKILL);   /* no stragglers of the check */
    nl = strchr(ec->err, '\n');
    if (nl != NULL)
        *nl = '\0';
    memset(out, 0, sizeof(*out));
    out->gen = ec->gen;
    if (ec->timed_out)
        set_detail(out, "timed out after %u ms", (unsigned)ec->period_ms);
    else if (WIFSIGNALED(status))
        set_detail(out, "killed by signal %d%s%s", WTERMSIG(status),
                 ec->err[0] != '\0' ? ": " : "", ec->err);
    else if (WEXITSTATUS(status) != 0)
        set_detail(out, "exit %d%s%s", WEXITSTATUS(status),
                 ec->err[0] != '\0' ? ": " : "", ec->err);
    else
        set_detail(out, "exit 0");
    out->ok = !ec->timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    ec->pid = 0;
    ec->next_due_ms = now_ms + ec->period_ms;
}

void exec_check_fini(struct exec_check *ec)
{
    if (ec->pid > 0)
        (void)child_signal_group(ec->pid, SIGKILL);
    if (ec->fd >= 0)
        close(ec->fd);
    ec->fd = -1;
}
