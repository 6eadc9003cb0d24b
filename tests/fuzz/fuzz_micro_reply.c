/* libFuzzer target: the judge of answers to a NATS micro ping
 * (supervisor/daemon/micro_reply.h), what anyone allowed to subscribe to
 * $SRV.PING.<name> can send the supervisor.
 *
 * The first input byte picks the mode (fuzz_input.h): even, the rest is the
 * answer as it is; odd, byte flips of a valid nats.js answer. Invariants
 * beyond "no crash": an accepted answer's id is a valid instance name and
 * its version printable and within FLEET_VERSION_MAX; the untouched answer
 * is accepted; a refusal leaves *out untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "micro_reply.h"

static const char valid[] = "{\"type\":\"io.nats.micro.v1.ping_response\",\"name\":\"web\","
                            "\"id\":\"kVq3JQ0pX9mWnH2bT7cYzE\",\"version\":\"1.2.3\",\"metadata\":{\"lang\":\"js\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct micro_reply r, before;
    enum micro_refusal why;
    uint8_t *buf;
    size_t len;
    int untouched;

    if (size < 1)
        return 0;
    buf = fuzz_input(data, size, (const uint8_t *)valid, sizeof(valid) - 1, &len, &untouched);
    memset(&r, 0xa5, sizeof(r));
    before = r;
    why = micro_reply_parse("web", buf, len, &r);
    if (why == MICRO_OK) {
        if (!fleet_name_valid(r.id) || strlen(r.version) > FLEET_VERSION_MAX)
            abort();
        for (const char *c = r.version; *c != '\0'; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                abort();
    } else {
        if (why <= MICRO_OK || why >= MICRO_REFUSAL_COUNT || memcmp(&r, &before, sizeof(r)) != 0)
            abort();
    }
    if (untouched && why != MICRO_OK)
        abort();
    free(buf);
    return 0;
}
