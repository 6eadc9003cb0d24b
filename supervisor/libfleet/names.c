/* Name validation shared by the library, the supervisor and the tools. */
#include <string.h>

#include "fleet/names.h"
#include "lasterror.h"

static bool name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool fleet_name_valid_n(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > FLEET_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok((unsigned char)name[i]))
            return false;
    return true;
}

bool fleet_name_valid(const char *name)
{
    return name != NULL && fleet_name_valid_n(name, strnlen(name, FLEET_NAME_MAX + 1));
}

fleet_status fleet_name_check(const char *what, const char *name)
{
    size_t len;

    if (name == NULL || name[0] == '\0')
        return fleet_fail(FLEET_ERR_BAD_NAME, "%s name is empty: give 1-%d characters from [A-Za-z0-9_-]",
                          what, FLEET_NAME_MAX);
    len = strnlen(name, FLEET_NAME_MAX + 1);
    if (len > FLEET_NAME_MAX)
        return fleet_fail(FLEET_ERR_BAD_NAME, "%s name is longer than %d characters", what, FLEET_NAME_MAX);
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok((unsigned char)name[i]))
            return fleet_fail(FLEET_ERR_BAD_NAME,
                              "%s name \"%.64s\" has '%c' at position %zu: only [A-Za-z0-9_-] are allowed "
                              "(a name is one NATS subject token)",
                              what, name, name[i] >= 32 && name[i] < 127 ? name[i] : '?', i + 1);
    return FLEET_OK;
}
