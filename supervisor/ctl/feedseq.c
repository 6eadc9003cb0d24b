/* Feed-sequence gap accounting for consumers of the status and event feed. */
#include "render.h"

/* Unseen numbers among the window's bits `mask` selects. */
static uint64_t holes(uint64_t seen, uint64_t mask)
{
    return (uint64_t)__builtin_popcountll(~seen & mask);
}

void feedseq_init(struct feedseq *f)
{
    f->high = 0;
    f->low = 0;
    f->seen = 0;
    f->missed = 0;
}

/* Starts a window at `seq`, with nothing before it owed. */
static void feedseq_start(struct feedseq *f, uint64_t seq)
{
    f->high = seq;
    f->low = seq;
    f->seen = ~(uint64_t)0;
}

void feedseq_note(struct feedseq *f, uint64_t seq)
{
    uint64_t d;

    if (seq == 0)
        return;
    if (f->high == 0) {
        feedseq_start(f, seq);
        return;
    }
    if (seq > f->high) {
        d = seq - f->high;
        if (d >= FEEDSEQ_WINDOW) {
            /* Everything in the old window leaves it; of the numbers
             * jumped over, all but the newest 63 leave it too. */
            f->missed += holes(f->seen, ~(uint64_t)0) + (d - FEEDSEQ_WINDOW);
            f->seen = 1;
        } else {
            f->missed += holes(f->seen, ~(~(uint64_t)0 >> d));
            f->seen = (f->seen << d) | 1;
        }
        f->high = seq;
        return;
    }
    d = f->high - seq;
    if (d < FEEDSEQ_WINDOW) {
        if (seq < f->low) {
            /* The window began at `low` only because it came first (the
             * other subscription was quicker): what lies between is owed. */
            uint64_t from = f->high - f->low + 1, to = d - 1;

            if (from <= to)
                f->seen &= ~((((uint64_t)1 << (to + 1)) - 1) & ~(((uint64_t)1 << from) - 1));
            f->low = seq;
        }
        f->seen |= (uint64_t)1 << d;
        return;
    }
    /* Far behind: a new publisher counting from its own start. The holes of
     * the old window will never fill now. */
    f->missed += holes(f->seen, ~(uint64_t)0);
    feedseq_start(f, seq);
}

uint64_t feedseq_missed(const struct feedseq *f)
{
    return f->missed + (f->high != 0 ? holes(f->seen, ~(uint64_t)0) : 0);
}

void feedseq_rebase(struct feedseq *f)
{
    if (f->high != 0)
        f->missed += holes(f->seen, ~(uint64_t)0);
    f->high = 0;
    f->low = 0;
    f->seen = 0;
}
