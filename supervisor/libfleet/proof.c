/* Heartbeat proofs (fleet/proof.h; the contract is in fleet.proto).
 *
 * Incarnation keys live in ordinary malloc'd memory, not sodium_malloc's
 * guarded pages: a simulator holds one per instance, and guard pages cost
 * three mappings each. They are wiped before being freed, as is every
 * intermediate secret (X25519 scalars, shared secrets) on every path. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet/proof.h"
#include "lasterror.h"
#include "nkey_private.h"

#define LAYOUT_MAGIC "FLEETHB1"
#define KDF_LABEL "fleet.v1.hb-proof"

_Static_assert(crypto_scalarmult_BYTES == FLEET_PROOF_KEY_BYTES, "X25519 key size");
_Static_assert(FLEET_PROOF_TAG_BYTES >= crypto_generichash_BYTES_MIN &&
               FLEET_PROOF_TAG_BYTES <= crypto_generichash_BYTES_MAX, "BLAKE2b-256 tag size");
_Static_assert(FLEET_PROOF_TAG_BYTES >= crypto_generichash_KEYBYTES_MIN &&
               FLEET_PROOF_TAG_BYTES <= crypto_generichash_KEYBYTES_MAX, "BLAKE2b key size");
_Static_assert(sizeof(KDF_LABEL) - 1 == 17, "the label is 17 bytes, as fleet.proto says");

struct fleet_incarnation_key {
    uint8_t sk[crypto_scalarmult_SCALARBYTES];
    uint8_t pk[crypto_scalarmult_BYTES];
    uint64_t incarnation;
};

/* ---- layout ---- */

struct writer {
    uint8_t *p;
    size_t cap, len;
    bool ok;
};

static void put(struct writer *w, const void *b, size_t n)
{
    if (!w->ok || n > w->cap - w->len) {
        w->ok = false;
        return;
    }
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void put_le(struct writer *w, uint64_t v, size_t n)
{
    uint8_t b[8];

    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(v >> (8 * k));
    put(w, b, n);
}

static void put_str(struct writer *w, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n > FLEET_PROOF_STR_MAX) {
        w->ok = false;
        return;
    }
    put_le(w, n, 2);
    put(w, s, n);
}

fleet_status fleet_proof_layout(const fleet_proof_fields *f, uint8_t *out, size_t cap, size_t *len)
{
    struct writer w = { .p = out, .cap = cap, .ok = true };

    if (f == NULL || out == NULL || len == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_proof_layout: f, out and len are required");
    if (f->n_checks > FLEET_PROOF_CHECKS_MAX)
        return fleet_fail(FLEET_ERR_TOO_LARGE, "a proven heartbeat has at most %d checks, this one %zu",
                          FLEET_PROOF_CHECKS_MAX, f->n_checks);
    put(&w, LAYOUT_MAGIC, sizeof(LAYOUT_MAGIC) - 1);
    put_str(&w, f->service);
    put_str(&w, f->instance);
    put_le(&w, f->incarnation, 8);
    put_le(&w, f->seq, 8);
    put_le(&w, (uint64_t)f->sent_unix_ms, 8);
    put_le(&w, f->interval_ms, 4);
    put_le(&w, f->state, 4);
    put_le(&w, f->fence_epoch, 8);
    put_le(&w, f->term_seen, 8);
    put_le(&w, f->pid, 4);
    put_le(&w, f->has_exit ? 1 : 0, 1);
    put_le(&w, f->has_exit ? (uint32_t)f->exit_code : 0, 4);
    put_le(&w, f->has_exit ? (uint32_t)f->exit_signal : 0, 4);
    put_le(&w, f->has_exit ? (uint64_t)f->exit_at_unix_ms : 0, 8);
    put_str(&w, f->version);
    put_str(&w, f->nats_server);
    put_le(&w, f->n_checks, 2);
    for (size_t k = 0; k < f->n_checks; k++) {
        put_str(&w, f->check_name[k]);
        put_le(&w, f->check_ok[k] ? 1 : 0, 1);
    }
    if (!w.ok)
        return fleet_fail(FLEET_ERR_TOO_LARGE, "heartbeat has no proof layout: a string over %d bytes, "
                                               "or more than %zu bytes in all",
                          FLEET_PROOF_STR_MAX, cap);
    *len = w.len;
    return FLEET_OK;
}

/* ---- keys ---- */

uint64_t fleet_proof_incarnation(const uint8_t key[FLEET_PROOF_KEY_BYTES])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    uint64_t v = 0;

    crypto_hash_sha256(h, key, FLEET_PROOF_KEY_BYTES);
    for (int k = 7; k >= 0; k--)
        v = v << 8 | h[k];
    return v;
}

fleet_status fleet_incarnation_key_generate(fleet_incarnation_key **out)
{
    fleet_incarnation_key *k;

    if (out == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_incarnation_key_generate: out is NULL");
    if (sodium_init() < 0)
        return fleet_fail(FLEET_ERR_SYSTEM, "libsodium could not be initialised");
    k = malloc(sizeof(*k));
    if (k == NULL)
        return fleet_fail(FLEET_ERR_NO_MEMORY, "out of memory for an incarnation key");
    do {
        randombytes_buf(k->sk, sizeof(k->sk));
        if (crypto_scalarmult_base(k->pk, k->sk) != 0) {
            fleet_incarnation_key_destroy(k);
            return fleet_fail(FLEET_ERR_SYSTEM, "X25519 key generation failed");
        }
        k->incarnation = fleet_proof_incarnation(k->pk);
    } while (k->incarnation == 0);
    *out = k;
    return FLEET_OK;
}

void fleet_incarnation_key_destroy(fleet_incarnation_key *k)
{
    if (k == NULL)
        return;
    sodium_memzero(k, sizeof(*k));
    free(k);
}

const uint8_t *fleet_incarnation_key_public(const fleet_incarnation_key *k)
{
    return k->pk;
}

uint64_t fleet_incarnation_key_incarnation(const fleet_incarnation_key *k)
{
    return k->incarnation;
}

/* mac_key = SHA-256(label || shared || instance public || supervisor Ed25519 public). */
static void derive(const uint8_t shared[crypto_scalarmult_BYTES], const uint8_t inst_pk[FLEET_PROOF_KEY_BYTES],
                   const uint8_t sup_pk[FLEET_PUBLIC_KEY_BYTES], uint8_t mac_key[FLEET_PROOF_TAG_BYTES])
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)KDF_LABEL, sizeof(KDF_LABEL) - 1);
    crypto_hash_sha256_update(&st, shared, crypto_scalarmult_BYTES);
    crypto_hash_sha256_update(&st, inst_pk, FLEET_PROOF_KEY_BYTES);
    crypto_hash_sha256_update(&st, sup_pk, FLEET_PUBLIC_KEY_BYTES);
    crypto_hash_sha256_final(&st, mac_key);
    sodium_memzero(&st, sizeof(st));
}

fleet_status fleet_proof_key_instance(const fleet_incarnation_key *k,
                                      const uint8_t supervisor[FLEET_PUBLIC_KEY_BYTES],
                                      uint8_t mac_key[FLEET_PROOF_TAG_BYTES])
{
    uint8_t sup_x[crypto_scalarmult_BYTES], shared[crypto_scalarmult_BYTES];
    fleet_status s = FLEET_OK;

    if (k == NULL || supervisor == NULL || mac_key == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_proof_key_instance: arguments are required");
    if (crypto_sign_ed25519_pk_to_curve25519(sup_x, supervisor) != 0)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "the supervisor key is not a valid Ed25519 public key");
    if (crypto_scalarmult(shared, k->sk, sup_x) != 0)
        s = fleet_fail(FLEET_ERR_INVALID_ARG, "the supervisor key gives a degenerate shared secret");
    else
        derive(shared, k->pk, supervisor, mac_key);
    sodium_memzero(shared, sizeof(shared));
    return s;
}

fleet_status fleet_proof_key_supervisor(const fleet_keypair *kp,
                                        const uint8_t incarnation_key[FLEET_PROOF_KEY_BYTES],
                                        uint8_t mac_key[FLEET_PROOF_TAG_BYTES])
{
    uint8_t x_sk[crypto_scalarmult_SCALARBYTES], shared[crypto_scalarmult_BYTES];
    uint8_t sup_pk[FLEET_PUBLIC_KEY_BYTES];
    fleet_status s;

    if (kp == NULL || incarnation_key == NULL || mac_key == NULL)
        return fleet_fail(FLEET_ERR_INVALID_ARG, "fleet_proof_key_supervisor: arguments are required");
    s = nkey_x25519_secret(kp, x_sk);
    if (s != FLEET_OK)
        return s;
    if (crypto_scalarmult(shared, x_sk, incarnation_key) != 0) {
        s = fleet_fail(FLEET_ERR_INVALID_ARG, "the incarnation key gives a degenerate shared secret");
    } else {
        fleet_keypair_public_raw(kp, sup_pk);
        derive(shared, incarnation_key, sup_pk, mac_key);
    }
    sodium_memzero(x_sk, sizeof(x_sk));
    sodium_memzero(shared, sizeof(shared));
    return s;
}

void fleet_proof_tag(const uint8_t mac_key[FLEET_PROOF_TAG_BYTES], const uint8_t *layout, size_t len,
                     uint8_t tag[FLEET_PROOF_TAG_BYTES])
{
    /* Keyed BLAKE2b (RFC 7693), libsodium's generichash: a MAC by design. */
    (void)crypto_generichash(tag, FLEET_PROOF_TAG_BYTES, layout, len, mac_key, FLEET_PROOF_TAG_BYTES);
}

bool fleet_proof_well_formed(size_t len)
{
    return len % FLEET_PROOF_ENTRY_BYTES == 0 && len / FLEET_PROOF_ENTRY_BYTES <= FLEET_PROOF_ENTRIES_MAX;
}

const uint8_t *fleet_proof_find(const uint8_t *proof, size_t len,
                                const uint8_t supervisor[FLEET_PUBLIC_KEY_BYTES])
{
    if (proof == NULL || !fleet_proof_well_formed(len))
        return NULL;
    for (size_t off = 0; off < len; off += FLEET_PROOF_ENTRY_BYTES)
        if (memcmp(proof + off, supervisor, FLEET_PROOF_ID_BYTES) == 0)
            return proof + off + FLEET_PROOF_ID_BYTES;
    return NULL;
}
