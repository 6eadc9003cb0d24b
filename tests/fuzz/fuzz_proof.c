/* libFuzzer target: the heartbeat proof check (codec + proofcheck, with
 * libfleet's sender on the other side). The first byte picks a mode:
 *
 *   even: the rest is a heartbeat body from a stranger. Whatever it holds,
 *         its proof (its first entry made to name us) must never be PROVEN:
 *         nobody else can produce our MAC for a key they do not hold.
 *   odd:  the rest chooses the fields of a heartbeat that libfleet packs and
 *         proves, then one byte of the packed form to flip. The packed form
 *         must be PROVEN; after the flip it may be PROVEN only if the fields
 *         the proof covers (its layout) are unchanged, and must be when
 *         nothing the proof depends on changed.
 *
 * Any violated property aborts (a crash for libFuzzer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fleet/nkey.h"
#include "fleet/proof.h"
#include "ingest.h"
#include "libfleet/hb_private.h"
#include "proofcheck.h"

#define SUBJECT "fleet.v1.hb.svc.inst"
#define PREFIX_LEN 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proofcheck *checker;
static fleet_incarnation_key *ik;
static uint8_t own_pk[FLEET_PUBLIC_KEY_BYTES];
static uint8_t mac[1][FLEET_PROOF_TAG_BYTES];
static int64_t now_ms;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_proof: %s\n", what);
    abort();
}

static void init(void)
{
    fleet_keypair *kp = NULL;

    if (fleet_keypair_generate(&kp) != FLEET_OK)
        die("no supervisor key");
    fleet_keypair_public_raw(kp, own_pk);
    /* A ration far above what a run spends: every check is a real one. */
    if (proofcheck_create(kp, 1024, 1000000000u, &checker) != 0)
        die("no checker");
    if (fleet_incarnation_key_generate(&ik) != FLEET_OK ||
        fleet_proof_key_instance(ik, own_pk, mac[0]) != FLEET_OK)
        die("no incarnation key");
}

/* Decodes and checks as the supervisor's edge does (ingest_decode): true
 * when proven. Decodes again into *p to see what the proof covered; false
 * in *decoded when the codec refuses the bytes (nothing to compare). */
static bool check(const uint8_t *d, size_t n, struct codec_hb_proof *p, bool *decoded)
{
    struct hb_input in;
    enum hb_refusal r = ingest_decode(checker, PREFIX_LEN, 65536, SUBJECT, d, n, ++now_ms, &in);
    bool proven = r == HB_OK && in.proven;

    *decoded = codec_heartbeat_decode(SUBJECT, PREFIX_LEN, d, n, 65536, &in, p) == HB_OK && p->has_key &&
               p->proof_len > 0;
    if (proven && !*decoded)
        die("proven what the codec refuses");
    return proven;
}

static void stranger(const uint8_t *d, size_t n)
{
    static struct codec_hb_proof p;
    struct hb_input in;

    if (codec_heartbeat_decode(SUBJECT, PREFIX_LEN, d, n, 65536, &in, &p) != HB_OK || !p.has_key ||
        p.proof_len == 0)
        return;
    memcpy(p.proof, own_pk, FLEET_PROOF_ID_BYTES);
    if (proofcheck_verify(checker, p.key, p.incarnation, p.proof, p.proof_len, p.layout, p.layout_len,
                          ++now_ms) == PROOF_PROVEN)
        die("a stranger's heartbeat was proven");
}

struct reader {
    const uint8_t *d;
    size_t n;
};

static uint64_t take(struct reader *r, size_t bytes)
{
    uint64_t v = 0;

    for (size_t k = 0; k < bytes && r->n > 0; k++, r->d++, r->n--)
        v |= (uint64_t)r->d[0] << (8 * k);
    return v;
}

/* A string of up to `max` printable bytes. */
static void take_str(struct reader *r, char *out, size_t max)
{
    size_t len = (size_t)take(r, 1) % (max + 1), k;

    for (k = 0; k < len && r->n > 0; k++)
        out[k] = (char)(0x21 + take(r, 1) % 0x5e);
    out[k] = '\0';
}

static void sender(const uint8_t *d, size_t n)
{
    static struct codec_hb_proof first, second;
    struct reader r = { d, n };
    char version[33];
    struct hb_check checks[4];
    uint8_t ids[1][FLEET_PUBLIC_KEY_BYTES];
    struct hb_snapshot s;
    uint8_t *buf = NULL;
    size_t cap = 0, len, pos;
    bool pr, decoded;
    uint8_t flip;

    memset(checks, 0, sizeof(checks));
    memcpy(ids[0], own_pk, sizeof(own_pk));
    s = (struct hb_snapshot){
        .service = "svc", .instance = "inst", .host = "h", .nats_server = "",
        .incarnation = fleet_incarnation_key_incarnation(ik),
        .key = fleet_incarnation_key_public(ik), .mac = mac, .ids = ids, .n_proofs = 1,
    };
    s.seq = take(&r, 8);
    s.sent_unix_ms = (int64_t)take(&r, 8);
    s.interval_ms = (uint32_t)take(&r, 4) % 3600001u;
    s.state = (fleet_serving_state)(take(&r, 1) % 8);
    s.fence_epoch = take(&r, 8);
    s.term_seen = take(&r, 8);
    s.pid = (uint32_t)take(&r, 4);
    s.has_exit = take(&r, 1) & 1;
    s.exit_code = (int32_t)take(&r, 4);
    s.exit_signal = (int32_t)take(&r, 4);
    s.exit_at_unix_ms = (int64_t)take(&r, 8);
    take_str(&r, version, sizeof(version) - 1);
    s.version = version;
    s.n_checks = (size_t)take(&r, 1) % 5;
    for (size_t k = 0; k < s.n_checks; k++) {
        take_str(&r, checks[k].name, 16);
        checks[k].ok = take(&r, 1) & 1;
    }
    s.checks = checks;
    pos = (size_t)take(&r, 2);
    flip = (uint8_t)take(&r, 1);

    if (hb_wire_pack(&s, &buf, &cap, &len) != FLEET_OK)
        return;
    pr = check(buf, len, &first, &decoded);
    if (!decoded)
        goto out_free_buf;   /* fields the codec refuses (e.g. an empty check name) */
    if (!pr)
        die("libfleet's own heartbeat was not proven");
    if (flip == 0 || len == 0)
        goto out_free_buf;
    buf[pos % len] ^= flip;
    pr = check(buf, len, &second, &decoded);
    if (!decoded)
        goto out_free_buf;
    {
        bool same_layout = second.layout_len == first.layout_len &&
                           memcmp(second.layout, first.layout, first.layout_len) == 0;
        bool same_proof = memcmp(second.key, first.key, FLEET_PROOF_KEY_BYTES) == 0 &&
                          second.incarnation == first.incarnation && second.proof_len == first.proof_len &&
                          memcmp(second.proof, first.proof, first.proof_len) == 0;

        if (pr && !same_layout)
            die("a changed heartbeat was proven");
        if (same_layout && same_proof && !pr)
            die("a flip outside the covered fields broke the proof");
    }
out_free_buf:
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (checker == NULL)
        init();
    if (size == 0)
        return 0;
    if (data[0] & 1)
        sender(data + 1, size - 1);
    else
        stranger(data + 1, size - 1);
    return 0;
}
