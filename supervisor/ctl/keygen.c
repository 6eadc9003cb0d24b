/* fleetctl keygen --out FILE: a new control signing key (DESIGN.md §7).
 *
 * Writes the seed ("SU…" and a newline) to a file that did not exist, created
 * with mode 0600, and prints only the public key ("U…") on stdout, so
 * `fleetctl keygen --out sup.nk > sup.pub` leaves nothing else to clean up.
 * The seed never appears in argv, on stdout or stderr, and its buffer is
 * wiped before exit. Success prints nothing on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "fleet/nkey.h"

static void keygen_usage(FILE *out)
{
    fputs("usage: fleetctl keygen --out FILE\n"
          "\n"
          "Creates a control signing key. The seed (secret) is written to FILE,\n"
          "which must not exist yet and is created with mode 0600; the public key\n"
          "(U..., for FLEET_TRUSTED_KEYS) is printed on stdout.\n", out);
}

/* Writes all of buf[0..len) to fd. Returns 0, or -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Creates `path` exclusively and stores the seed line in it. On failure
 * prints why and removes the file if this call created it. */
static int write_seed_file(const char *path, const char *line, size_t len)
{
    int fd, saved;

    /* O_EXCL: never overwrite a key, never follow a planted symlink. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(stderr, "fleetctl keygen: %s already exists: refusing to overwrite it "
                            "(move it away or choose another --out)\n", path);
        else
            fprintf(stderr, "fleetctl keygen: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* The mode is exactly 0600 whatever the umask (which could only have
     * removed our own read bit). */
    if (fchmod(fd, 0600) != 0 || write_all(fd, line, len) != 0 || fsync(fd) != 0)
        goto out_unlink;
    if (close(fd) != 0) {
        fd = -1;
        goto out_unlink;
    }
    return 0;

out_unlink:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(path);
    fprintf(stderr, "fleetctl keygen: cannot write %s: %s (the file was removed)\n", path, strerror(saved));
    return -1;
}

int ctl_cmd_keygen(struct ctl_opts *o, int argc, char **argv)
{
    static const struct option long_opts[] = {
        { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char line[FLEET_NKEY_SEED_LEN + 2];      /* seed, newline, NUL */
    char public_key[FLEET_NKEY_PUBLIC_LEN + 1];
    fleet_keypair *kp = NULL;
    const char *path = NULL;
    int c, rc = CTL_EXIT_FAIL;

    (void)o;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            path = optarg;
            break;
        case 'h':
            keygen_usage(stdout);
            return CTL_EXIT_OK;
        case ':':
            fprintf(stderr, "fleetctl keygen: flag '%s' needs a file name\n", argv[optind - 1]);
            return CTL_EXIT_USAGE;
        default:
            fprintf(stderr, "fleetctl keygen: unknown flag '%s' (usage: fleetctl keygen --out FILE)\n",
                    argv[optind - 1]);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fleetctl keygen: unexpected argument '%s' (usage: fleetctl keygen --out FILE)\n",
                argv[optind]);
        return CTL_EXIT_USAGE;
    }
    if (path == NULL || path[0] == '\0') {
        fputs("fleetctl keygen: --out FILE is required: the seed is only ever written to a file\n", stderr);
        return CTL_EXIT_USAGE;
    }

    if (fleet_keypair_generate(&kp) != FLEET_OK ||
        fleet_keypair_seed(kp, line, sizeof(line)) != FLEET_OK ||
        fleet_keypair_public(kp, public_key, sizeof(public_key)) != FLEET_OK) {
        fprintf(stderr, "fleetctl keygen: cannot make a key: %s\n", fleet_last_error());
        goto out_wipe;
    }
    line[FLEET_NKEY_SEED_LEN] = '\n';
    line[FLEET_NKEY_SEED_LEN + 1] = '\0';
    if (write_seed_file(path, line, FLEET_NKEY_SEED_LEN + 1) != 0)
        goto out_wipe;
    if (printf("%s\n", public_key) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "fleetctl keygen: cannot write the public key to stdout "
                        "(the seed is in %s)\n", path);
        goto out_wipe;
    }
    rc = CTL_EXIT_OK;

out_wipe:
    sodium_memzero(line, sizeof(line));
    fleet_keypair_destroy(kp);
    return rc;
}
