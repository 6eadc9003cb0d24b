/* Random incarnations for the heartbeat sender. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "hb_private.h"
#include "lasterror.h"

fleet_status hb_random_nonzero(uint64_t *out)
{
    uint64_t v = 0;

    while (v == 0) {
        ssize_t n = getrandom(&v, sizeof(v), 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(v))
            return fleet_fail(FLEET_ERR_SYSTEM, "getrandom: %s",
                              n < 0 ? strerror(errno) : "short read");
    }
    *out = v;
    return FLEET_OK;
}
