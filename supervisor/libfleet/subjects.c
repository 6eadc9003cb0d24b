#include "fleet/subjects.h"

#include <stdio.h>
#include <string.h>

/* Every subject is "<prefix>.<head>" then, for the kinds that name them,
 * ".<service>" and ".<instance>". The one table of DESIGN.md §3's subjects. */
static const struct {
    const char *head;
    int names;    /* 0, 1 (service) or 2 (service and instance) */
} subjects[FLEET_SUBJECT_KINDS] = {
    [FLEET_SUBJECT_HB] = { "v1.hb", 2 },
    [FLEET_SUBJECT_HB_ALL] = { "v1.hb.>", 0 },
    [FLEET_SUBJECT_CTL] = { "v1.ctl", 2 },
    [FLEET_SUBJECT_STATUS] = { "v1.status", 0 },
    [FLEET_SUBJECT_STATUS_SERVICE] = { "v1.status", 1 },
    [FLEET_SUBJECT_EVENTS] = { "v1.events", 1 },
    [FLEET_SUBJECT_EVENTS_ALL] = { "v1.events.>", 0 },
    [FLEET_SUBJECT_QUERY_STATUS] = { "v1.query.status", 0 },
    [FLEET_SUBJECT_QUERY_SERVICE] = { "v1.query.service", 0 },
    [FLEET_SUBJECT_ADMIN] = { "v1.admin", 1 },
    [FLEET_SUBJECT_ADMIN_ALL] = { "v1.admin.*", 0 },
};

/* What FLEET_SUBJECT_MAX leaves beside the prefix and two names holds the
 * longest fixed part, with its dots and the NUL. */
#define FIXED_ROOM (FLEET_SUBJECT_MAX - FLEET_PREFIX_MAX - 2 * FLEET_NAME_MAX)
_Static_assert(sizeof(".v1.query.service") <= FIXED_ROOM, "room for .v1.query.service");
_Static_assert(sizeof(".v1.status.") <= FIXED_ROOM, "room for .v1.status.<service>");
_Static_assert(sizeof(".v1.events.") <= FIXED_ROOM, "room for .v1.events.<service>");
_Static_assert(sizeof(".v1.ctl..") <= FIXED_ROOM, "room for .v1.ctl.<service>.<instance>");

size_t fleet_subject(char *out, size_t n, enum fleet_subject kind, const char *prefix,
                     const char *service, const char *instance)
{
    char buf[FLEET_SUBJECT_MAX];
    int len;

    if ((unsigned)kind >= FLEET_SUBJECT_KINDS || prefix == NULL ||
        (subjects[kind].names >= 1 && service == NULL) || (subjects[kind].names == 2 && instance == NULL))
        return 0;
    switch (subjects[kind].names) {
    case 0:
        len = snprintf(buf, sizeof(buf), "%s.%s", prefix, subjects[kind].head);
        break;
    case 1:
        len = snprintf(buf, sizeof(buf), "%s.%s.%s", prefix, subjects[kind].head, service);
        break;
    default:
        len = snprintf(buf, sizeof(buf), "%s.%s.%s.%s", prefix, subjects[kind].head, service, instance);
        break;
    }
    if (len < 0 || (size_t)len >= sizeof(buf) || (size_t)len >= n)
        return 0;
    memcpy(out, buf, (size_t)len + 1);
    return (size_t)len;
}

const char *fleet_subject_tail(const char *subject, size_t prefix_len, enum fleet_subject kind)
{
    size_t head_len;

    if ((unsigned)kind >= FLEET_SUBJECT_KINDS || subjects[kind].names == 0)
        return NULL;
    head_len = strlen(subjects[kind].head);
    if (strnlen(subject, prefix_len + head_len + 2) < prefix_len + head_len + 2 ||
        subject[prefix_len] != '.' || memcmp(subject + prefix_len + 1, subjects[kind].head, head_len) != 0 ||
        subject[prefix_len + 1 + head_len] != '.')
        return NULL;
    return subject + prefix_len + head_len + 2;
}

bool fleet_prefix_valid(const char *prefix)
{
    size_t len, start = 0;

    if (prefix == NULL)
        return false;
    len = strnlen(prefix, FLEET_PREFIX_MAX + 1);
    if (len == 0 || len > FLEET_PREFIX_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && prefix[i] != '.')
            continue;
        if (!fleet_name_valid_n(prefix + start, i - start))
            return false;
        start = i + 1;
    }
    return true;
}
