#include "persist.h"

#include <string.h>

#define FLAG_FENCED 0x01u
#define FLAGS_KNOWN FLAG_FENCED

/* ---- little-endian fields ---- */

static void put_u32(uint8_t *b, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        b[k] = (uint8_t)(v >> (8 * k));
}

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)(v >> (8 * k));
}

static uint32_t get_u32(const uint8_t *b)
{
    uint32_t v = 0;

    for (int k = 0; k < 4; k++)
        v |= (uint32_t)b[k] << (8 * k);
    return v;
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t v = 0;

    for (int k = 0; k < 8; k++)
        v |= (uint64_t)b[k] << (8 * k);
    return v;
}

/* ---- validation ---- */

bool persist_valid(const struct policy_persisted *p)
{
    const char *nul = memchr(p->fence_reason, '\0', sizeof(p->fence_reason));

    if (p->n_restarts > POLICY_TALLY_MAX || nul == NULL)
        return false;
    if (p->fence_epoch_issued > p->fence_epoch_known)
        return false;
    if (p->fenced ? p->fence_epoch_issued == 0 : p->fence_reason[0] != '\0')
        return false;
    for (uint32_t k = 0; k < p->n_restarts; k++) {
        int64_t t = p->restart_unix_ms[k];

        if (t < 0 || t > PERSIST_UNIX_MS_MAX || (k > 0 && t < p->restart_unix_ms[k - 1]))
            return false;
    }
    return true;
}

/* ---- bytes ---- */

int persist_pack(const struct policy_persisted *p, uint8_t *buf, size_t cap, size_t *len)
{
    size_t r, need, at;

    if (!persist_valid(p))
        return -1;
    r = strlen(p->fence_reason);
    need = PERSIST_HEADER_BYTES + 8 * (size_t)p->n_restarts + 1 + r + 4;
    if (need > cap)
        return -1;
    buf[0] = PERSIST_MAGIC;
    buf[1] = PERSIST_VERSION;
    buf[2] = p->fenced ? FLAG_FENCED : 0;
    buf[3] = p->n_restarts;
    put_u32(buf + 4, p->backoff_step);
    put_u64(buf + 8, p->fence_epoch_known);
    put_u64(buf + 16, p->fence_epoch_issued);
    at = PERSIST_HEADER_BYTES;
    for (uint32_t k = 0; k < p->n_restarts; k++, at += 8)
        put_u64(buf + at, (uint64_t)p->restart_unix_ms[k]);
    buf[at++] = (uint8_t)r;
    memcpy(buf + at, p->fence_reason, r);
    put_u32(buf + at + r, p->restarts);
    *len = need;
    return 0;
}

int persist_unpack(const uint8_t *buf, size_t len, struct policy_persisted *out)
{
    struct policy_persisted p;
    size_t at, r, tail;

    if (len < PERSIST_HEADER_BYTES + 1 || buf[0] != PERSIST_MAGIC || (buf[1] != PERSIST_VERSION && buf[1] != 1))
        return -1;
    tail = buf[1] == 1 ? 0 : 4;   /* version 1 has no restarts field */
    if ((buf[2] & ~FLAGS_KNOWN) != 0 || buf[3] > POLICY_TALLY_MAX)
        return -1;
    memset(&p, 0, sizeof(p));
    p.fenced = (buf[2] & FLAG_FENCED) != 0;
    p.n_restarts = buf[3];
    at = PERSIST_HEADER_BYTES + 8 * (size_t)p.n_restarts;
    if (len < at + 1)
        return -1;
    r = buf[at];
    if (r >= REASON_MAX || len != at + 1 + r + tail || memchr(buf + at + 1, '\0', r) != NULL)
        return -1;
    p.backoff_step = get_u32(buf + 4);
    p.fence_epoch_known = get_u64(buf + 8);
    p.fence_epoch_issued = get_u64(buf + 16);
    for (uint32_t k = 0; k < p.n_restarts; k++) {
        uint64_t t = get_u64(buf + PERSIST_HEADER_BYTES + 8 * (size_t)k);

        if (t > (uint64_t)PERSIST_UNIX_MS_MAX)
            return -1;
        p.restart_unix_ms[k] = (int64_t)t;
    }
    memcpy(p.fence_reason, buf + at + 1, r);
    p.restarts = tail != 0 ? get_u32(buf + at + 1 + r) : 0;
    if (!persist_valid(&p))
        return -1;
    *out = p;
    return 0;
}

/* ---- conversions ---- */

static int64_t clamp_unix(int64_t t)
{
    return t < 0 ? 0 : t > PERSIST_UNIX_MS_MAX ? PERSIST_UNIX_MS_MAX : t;
}

void persist_from_policy(const struct policy_instance *p, bool fenced, const char *fence_reason,
                         int64_t unix_offset_ms, struct policy_persisted *out)
{
    memset(out, 0, sizeof(*out));
    out->fence_epoch_issued = p->fence_issued;
    out->fence_epoch_known = p->fence_epoch > p->fence_issued ? p->fence_epoch : p->fence_issued;
    out->fenced = fenced && p->fence_issued != 0;
    out->backoff_step = p->backoff_step;
    out->n_restarts = p->tally_len;
    /* The ring holds the newest tally_len entries ending before tally_head. */
    for (uint32_t k = 0; k < p->tally_len; k++) {
        uint32_t slot = (p->tally_head + POLICY_TALLY_MAX - p->tally_len + k) % POLICY_TALLY_MAX;
        int64_t t = clamp_unix(p->restart_at[slot] + unix_offset_ms);

        /* Clamping keeps the order; a ring is in issue order already. */
        out->restart_unix_ms[k] = k > 0 && t < out->restart_unix_ms[k - 1] ? out->restart_unix_ms[k - 1] : t;
    }
    if (out->fenced && fence_reason != NULL) {
        size_t n = strlen(fence_reason);

        if (n >= sizeof(out->fence_reason))
            n = sizeof(out->fence_reason) - 1;
        memcpy(out->fence_reason, fence_reason, n);
    }
}

void persist_to_policy(const struct policy_persisted *in, int64_t now_ms, int64_t unix_offset_ms,
                       struct policy_instance *p)
{
    for (uint32_t k = 0; k < POLICY_TALLY_MAX; k++)
        p->restart_at[k] = 0;
    p->tally_head = 0;
    p->tally_len = 0;
    for (uint32_t k = 0; k < in->n_restarts; k++) {
        int64_t t = in->restart_unix_ms[k] - unix_offset_ms;

        policy_tally_add(p, t > now_ms ? now_ms : t);
    }
    p->backoff_step = in->backoff_step;
    if (in->fence_epoch_known > p->fence_epoch)
        p->fence_epoch = in->fence_epoch_known;
    if (in->fence_epoch_issued > p->fence_issued)
        p->fence_issued = in->fence_epoch_issued;
}
