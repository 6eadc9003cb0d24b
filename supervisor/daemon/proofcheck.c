#include "proofcheck.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define WAYS 4
#define MIN_ENTRIES 64

struct entry {
    uint8_t key[FLEET_PROOF_KEY_BYTES];
    uint8_t mac_key[FLEET_PROOF_TAG_BYTES]; /* agreed with `key`: per heartbeat, one keyed hash */
    uint64_t incarnation;                   /* the one `key` stands for */
    bool used;
};

struct proofcheck {
    pthread_mutex_t lock;            /* guards the cache and the ration; not the constants nor `c` */
    fleet_keypair *kp;               /* owned */
    uint8_t own_pk[FLEET_PUBLIC_KEY_BYTES];
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct entry *set;               /* n_sets * WAYS */
    size_t n_sets;                   /* a power of two; doubles while a full set would evict */
    size_t max_sets;                 /* the configured capacity / WAYS: past it, full sets evict */
    unsigned char *next_way;         /* per set: the way a miss replaces next */
    double tokens;
    uint32_t rate;
    int64_t refill_ms;
    struct {                         /* atomics: counted without the lock */
        atomic_uint_fast64_t proven, unproven, bad, deferred, agreements, evictions;
    } c;
};

static void count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

int proofcheck_create(fleet_keypair *kp, size_t entries, uint32_t agreements_per_s, struct proofcheck **out)
{
    struct proofcheck *pc = calloc(1, sizeof(*pc));
    size_t sets = MIN_ENTRIES / WAYS;

    if (pc == NULL || sodium_init() < 0)
        goto out_free;
    pc->max_sets = sets;
    while (pc->max_sets * WAYS < entries)
        pc->max_sets *= 2;
    /* Small first, grown as keys come: the entries of the keys in use stay
     * dense (in cache, few pages), where a table sized for the most keys
     * allowed made every lookup a cache and TLB miss. */
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

/* Under the lock: the cached MAC key for `key` copied into out[], or false. */
static bool lookup(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES],
                   uint8_t out[FLEET_PROOF_TAG_BYTES], uint64_t *incarnation)
{
    struct entry *e = set_of(pc, key);

    for (int w = 0; w < WAYS; w++) {
        if (e[w].used && memcmp(e[w].key, key, FLEET_PROOF_KEY_BYTES) == 0) {
            memcpy(out, e[w].mac_key, FLEET_PROOF_TAG_BYTES);
            *incarnation = e[w].incarnation;
            return true;
        }
    }
    return false;
}

/* Under the lock: twice the sets, every entry moved to its new set (the
 * entries of one old set split over two new ones: they always fit). -1
 * when out of memory, the cache unchanged. */
static int grow(struct proofcheck *pc)
{
    size_t sets = pc->n_sets * 2;
    struct entry *old = pc->set, *set = calloc(sets * WAYS, sizeof(*set));
    unsigned char *next_way = calloc(sets, 1);
    size_t n_old = pc->n_sets * WAYS;

    if (set == NULL || next_way == NULL) {
        free(set);
        free(next_way);
        return -1;
    }
    pc->set = set;
    pc->n_sets = sets;
    for (size_t k = 0; k < n_old; k++) {
        struct entry *e;

        if (!old[k].used)
            continue;
        e = set_of(pc, old[k].key);
        for (int w = 0; w < WAYS; w++) {
            if (!e[w].used) {
                e[w] = old[k];
                break;
            }
        }
    }
    sodium_memzero(old, n_old * sizeof(*old));
    free(old);
    free(pc->next_way);
    pc->next_way = next_way;
    return 0;
}

/* Under the lock: caches `mac_key` for `key`, in a free way, in a free way
 * of a grown table while below the capacity, or in the set's next way. */
static void insert(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES],
                   const uint8_t mac_key[FLEET_PROOF_TAG_BYTES], uint64_t incarnation)
{
    struct entry *e;
    size_t set;
    int w;

    for (;;) {
        e = set_of(pc, key);
        for (w = 0; w < WAYS; w++)
            if (!e[w].used || memcmp(e[w].key, key, FLEET_PROOF_KEY_BYTES) == 0)
                break;
        if (w < WAYS || pc->n_sets >= pc->max_sets || grow(pc) != 0)
            break;
    }
    set = (size_t)(e - pc->set) / WAYS;
    if (w == WAYS) {
        w = pc->next_way[set];
        pc->next_way[set] = (unsigned char)((w + 1) % WAYS);
        count(&pc->c.evictions);
    }
    memcpy(e[w].key, key, FLEET_PROOF_KEY_BYTES);
    memcpy(e[w].mac_key, mac_key, FLEET_PROOF_TAG_BYTES);
    e[w].incarnation = incarnation;
    e[w].used = true;
}

enum proof_result proofcheck_verify(struct proofcheck *pc, const uint8_t key[FLEET_PROOF_KEY_BYTES],
                                    uint64_t incarnation, const uint8_t *proof, size_t proof_len,
                                    const uint8_t *layout, size_t layout_len, int64_t now_ms)
{
    const uint8_t *want = fleet_proof_find(proof, proof_len, pc->own_pk);
    uint8_t mac_key[FLEET_PROOF_TAG_BYTES], tag[FLEET_PROOF_TAG_BYTES];
    uint64_t bound = 0;
    enum proof_result r;
    bool cached;

    pthread_mutex_lock(&pc->lock);
    cached = lookup(pc, key, mac_key, &bound);
    pthread_mutex_unlock(&pc->lock);
    if (!cached)
        bound = fleet_proof_incarnation(key);
    if (bound != incarnation) {
        r = PROOF_BAD_KEY;
        goto out_wipe;
    }
    if (want == NULL) {
        count(&pc->c.unproven);
        r = PROOF_UNPROVEN;
        goto out_wipe;
    }
    if (cached)
        goto out_tag;
    pthread_mutex_lock(&pc->lock);
    if (!take_token(pc, now_ms)) {
        pthread_mutex_unlock(&pc->lock);
        count(&pc->c.deferred);
        return PROOF_DEFERRED;
    }
    pthread_mutex_unlock(&pc->lock);
    count(&pc->c.agreements);
    /* An invalid point gives no key: no tag can be right. */
    if (fleet_proof_key_supervisor(pc->kp, key, mac_key) != FLEET_OK) {
        count(&pc->c.bad);
        return PROOF_BAD;
    }
out_tag:
    fleet_proof_tag(mac_key, layout, layout_len, tag);
    r = crypto_verify_32(tag, want) == 0 ? PROOF_PROVEN : PROOF_BAD;
    /* Only a key that proved something is worth a cache line. */
    if (!cached && r == PROOF_PROVEN) {
        pthread_mutex_lock(&pc->lock);
        insert(pc, key, mac_key, incarnation);
        pthread_mutex_unlock(&pc->lock);
    }
    count(r == PROOF_PROVEN ? &pc->c.proven : &pc->c.bad);
out_wipe:
    sodium_memzero(mac_key, sizeof(mac_key));
    return r;
}

void proofcheck_counters(struct proofcheck *pc, struct proofcheck_counters *out)
{
    *out = (struct proofcheck_counters){
        .proven = atomic_load_explicit(&pc->c.proven, memory_order_relaxed),
        .unproven = atomic_load_explicit(&pc->c.unproven, memory_order_relaxed),
        .bad = atomic_load_explicit(&pc->c.bad, memory_order_relaxed),
        .deferred = atomic_load_explicit(&pc->c.deferred, memory_order_relaxed),
        .agreements = atomic_load_explicit(&pc->c.agreements, memory_order_relaxed),
        .evictions = atomic_load_explicit(&pc->c.evictions, memory_order_relaxed),
    };
}
