/* libcurl, loaded only when an HTTP check is configured.
 *
 * Linked in, libcurl and what it pulls in (GnuTLS, nettle, Kerberos, LDAP,
 * SASL, SSH, RTMP, nghttp2: about twenty libraries, several with load-time
 * constructors) cost every agent ~4 MB of resident memory for one optional
 * check. dlopen at set-up keeps that in the agents that ask for the check.
 * The types and constants still come from <curl/curl.h>; only the calls go
 * through the table. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"

_Static_assert(sizeof(void *) == sizeof(CURL *(*)(void)), "a dlsym'd address fits a function pointer");

/* libcurl's ABI, the same for 7.16 .. 8.x: the soname, not the -dev link. */
#define LIBCURL_SONAME "libcurl.so.4"

/* Resolves `name` into the function pointer at `slot` (its bytes copied:
 * no object pointer is converted to a function pointer, and no store goes
 * through a mismatched lvalue). Returns 0 or -1 (slot untouched). */
static int resolve(void *lib, const char *name, void *slot)
{
    void *sym = dlsym(lib, name);

    if (sym == NULL)
        return -1;
    memcpy(slot, &sym, sizeof(sym));
    return 0;
}

int curl_api_load(struct curl_api *api, char *err, size_t errlen)
{
    struct curl_api c = { 0 };
    const char *missing = NULL;
    struct {
        const char *name;
        void *slot;              /* a function pointer of c, sizeof(void *) wide */
    } syms[] = {
        { "curl_global_init", &c.global_init },
        { "curl_global_cleanup", &c.global_cleanup },
        { "curl_easy_init", &c.easy_init },
        { "curl_easy_cleanup", &c.easy_cleanup },
        { "curl_easy_reset", &c.easy_reset },
        { "curl_easy_perform", &c.easy_perform },
        { "curl_easy_setopt", &c.easy_setopt },
        { "curl_easy_getinfo", &c.easy_getinfo },
        { "curl_easy_strerror", &c.easy_strerror },
    };

    c.lib = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (c.lib == NULL) {
        snprintf(err, errlen, "cannot load %s: %s", LIBCURL_SONAME, dlerror());
        return -1;
    }
    for (size_t k = 0; k < sizeof(syms) / sizeof(syms[0]) && missing == NULL; k++)
        if (resolve(c.lib, syms[k].name, syms[k].slot) != 0)
            missing = syms[k].name;
    if (missing != NULL) {
        snprintf(err, errlen, "%s has no %s", LIBCURL_SONAME, missing);
        goto out_close_lib;
    }
    if (c.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed");
        goto out_close_lib;
    }
    *api = c;
    return 0;

out_close_lib:
    dlclose(c.lib);
    return -1;
}

void curl_api_unload(struct curl_api *api)
{
    if (api->lib == NULL)
        return;
    api->global_cleanup();
    dlclose(api->lib);
    memset(api, 0, sizeof(*api));
}
