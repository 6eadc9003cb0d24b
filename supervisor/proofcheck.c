#include "proofcheck.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define WAYS 4
#define MIN_ENTRIES 64

struct entry {
    uint8_t key[FLEET_PROOF_KEY_BYTES];
    bool used;
    crypto_auth_hmacsha256_state hmac; /* initialised with the MAC key: per heartbeat, update + final */
};

struct proofcheck {
    pthread_mutex_t lock;            /* guards everything below but the constants */
    fleet_keypair *kp;               /* owned */
    uint8_t own_pk[FLEET_PUBLIC_KEY_BYTES];
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct entry *set;               /* n_sets * WAYS, calloc'd: untouched pages cost no memory */
    size_t n_sets;                   /* a power of two */
    unsigned char *next_way;         /* per set: the way a miss replaces next */
    double tokens;
    uint32_t rate;
    int64_t refill_ms;
    struct proofcheck_counters c;
};

int proofcheck_create(fleet_keypair *kp, size_t entries, uint32_t agreements_per_s, struct proofcheck **out)
{
    struct proofcheck *pc = calloc(1, sizeof(*pc));
    size_t sets = MIN_ENTRIES / WAYS;

    if (pc == NULL || sodium_init() < 0)
        goto out_free;
    while (sets * WAYS < entries)
        sets *= 2;
    pc->set = calloc(sets * WAYS, sizeof(*pc->set));
    pc->next_way = calloc(sets, 1);
    if (pc->set == NULL || pc->next_way == NULL || pthread_mutex_init(&pc->lock, NULL) != 0)
        goto out_free;
    pc->n_sets = sets;
    pc->kp = kp;
    fleet_keypair_public_raw(kp, pc->own_pk);
    randombytes_buf(pc->hash_key, sizeof(pc->hash_key));
    pc->rate = agreements_per_s;
    pc->tokens = agreements_per_s;
    pc->refill_ms = INT64_MIN;
    *out = pc;
    return 0;

out_free:
    if (pc != NULL) {
        free(pc->set);
        free(pc->next_way);
        free(pc);
    }
    fleet_keypair_destroy(kp);
    return -1;
}

void proofcheck_destroy(struct proofcheck *pc)
{
    if (pc == NULL)
        return;
    for (size_t k = 0; k < pc->n_sets * WAYS; k++)   /* only what was used: the rest was never touched */
        if (pc->set[k].used)
            sodium_memzero(&pc->set[k], sizeof(pc->set[k]));
    free(pc->set);
    free(pc->next_way);
    fleet_keypair_destroy(pc->kp);
    pthread_mutex_destroy(&pc->lock);
    free(pc);
}

static struct entry *set_of(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES])
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;

    crypto_shorthash(h, key, FLEET_PROOF_KEY_BYTES, pc->hash_key);
    memcpy(&v, h, sizeof(v));
    return &pc->set[(v & (pc->n_sets - 1)) * WAYS];
}

/* Under the lock: one token if the ration allows. */
static bool take_token(struct proofcheck *pc, int64_t now_ms)
{
    if (pc->refill_ms == INT64_MIN)
        pc->refill_ms = now_ms;
    if (now_ms > pc->refill_ms) {
        pc->tokens += (double)(now_ms - pc->refill_ms) * pc->rate / 1000.0;
        if (pc->tokens > pc->rate)
            pc->tokens = pc->rate;
        pc->refill_ms = now_ms;
    }
    if (pc->tokens < 1.0)
        return false;
    pc->tokens -= 1.0;
    return true;
}

/* Under the lock: the cached state for `key` copied into *out, or false. */
static bool lookup(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES],
                   crypto_auth_hmacsha256_state *out)
{
    struct entry *e = set_of(pc, key);

    for (int w = 0; w < WAYS; w++) {
        if (e[w].used && memcmp(e[w].key, key, FLEET_PROOF_KEY_BYTES) == 0) {
            *out = e[w].hmac;
            return true;
        }
    }
    return false;
}

/* Under the lock: caches `st` for `key`, in a free way or the set's next. */
static void insert(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES],
                   const crypto_auth_hmacsha256_state *st)
{
    struct entry *e = set_of(pc, key);
    size_t set = (size_t)(e - pc->set) / WAYS;
    int w;

    for (w = 0; w < WAYS; w++)
        if (!e[w].used || memcmp(e[w].key, key, FLEET_PROOF_KEY_BYTES) == 0)
            break;
    if (w == WAYS) {
        w = pc->next_way[set];
        pc->next_way[set] = (unsigned char)((w + 1) % WAYS);
        pc->c.evictions++;
    }
    memcpy(e[w].key, key, FLEET_PROOF_KEY_BYTES);
    e[w].hmac = *st;
    e[w].used = true;
}

enum proof_result proofcheck_verify(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES],
                                    const uint8_t *proof, size_t proof_len, const uint8_t *layout,
                                    size_t layout_len, int64_t now_ms)
{
    const uint8_t *want = fleet_proof_find(proof, proof_len, pc->own_pk);
    crypto_auth_hmacsha256_state st;
    uint8_t tag[FLEET_PROOF_TAG_BYTES];
    enum proof_result r;
    bool cached;

    if (want == NULL) {
        pthread_mutex_lock(&pc->lock);
        pc->c.unproven++;
        pthread_mutex_unlock(&pc->lock);
        return PROOF_UNPROVEN;
    }
    pthread_mutex_lock(&pc->lock);
    cached = lookup(pc, key, &st);
    if (!cached && !take_token(pc, now_ms)) {
        pc->c.deferred++;
        pthread_mutex_unlock(&pc->lock);
        return PROOF_DEFERRED;
    }
    pthread_mutex_unlock(&pc->lock);
    if (!cached) {
        uint8_t mac_key[FLEET_PROOF_TAG_BYTES];

        /* An invalid point gives no key: no tag can be right. */
        if (fleet_proof_key_supervisor(pc->kp, key, mac_key) != FLEET_OK) {
            pthread_mutex_lock(&pc->lock);
            pc->c.agreements++;
            pc->c.bad++;
            pthread_mutex_unlock(&pc->lock);
            return PROOF_BAD;
        }
        crypto_auth_hmacsha256_init(&st, mac_key, sizeof(mac_key));
        sodium_memzero(mac_key, sizeof(mac_key));
    }
    {
        crypto_auth_hmacsha256_state fresh = st;

        crypto_auth_hmacsha256_update(&st, layout, layout_len);
        crypto_auth_hmacsha256_final(&st, tag);
        r = crypto_verify_32(tag, want) == 0 ? PROOF_PROVEN : PROOF_BAD;
        pthread_mutex_lock(&pc->lock);
        if (!cached) {
            pc->c.agreements++;
            /* Only a key that proved something is worth a cache line. */
            if (r == PROOF_PROVEN)
                insert(pc, key, &fresh);
        }
        if (r == PROOF_PROVEN)
            pc->c.proven++;
        else
            pc->c.bad++;
        pthread_mutex_unlock(&pc->lock);
        sodium_memzero(&fresh, sizeof(fresh));
    }
    sodium_memzero(&st, sizeof(st));
    return r;
}

void proofcheck_counters(struct proofcheck *pc, struct proofcheck_counters *out)
{
    pthread_mutex_lock(&pc->lock);
    *out = pc->c;
    pthread_mutex_unlock(&pc->lock);
}
