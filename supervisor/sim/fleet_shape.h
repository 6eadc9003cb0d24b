/* The studio's fleet as fleet-sim simulates it by default (DESIGN.md §1):
 * 23 NATS services with 2 tasks each and 22 standalone ones with 1: 45
 * services, 68 instances. */
#ifndef SIM_FLEET_SHAPE_H
#define SIM_FLEET_SHAPE_H

#include <stddef.h>

struct shape_service {
    const char *name;
    unsigned instances;
};

/* The default shape: a static table of `*count` services. */
const struct shape_service *fleet_shape_default(size_t *count);

#endif
