/* libFuzzer target: arbitrary bytes as a heartbeat body on a valid subject.
 * codec_heartbeat_decode must refuse or accept without crashing, leaking or
 * reading out of bounds, whatever the bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char subject[] = "fleet.v1.hb.svc.inst";
    struct codec_hb_proof proof;
    struct hb_input in;

    memset(&in, 0, sizeof(in));
    (void)codec_heartbeat_decode(subject, 5, data, size, 65536, &in, &proof);
    return 0;
}
