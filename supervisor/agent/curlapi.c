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

/* libcurl's ABI, the same for 7.16 .. 8.x: the soname, not the -dev link. */
#define LIBCURL_SONAME "libcurl.so.4"

/* Resolves `name` into the function pointer at `slot` (POSIX's idiom for a
 * dlsym'd function). Returns 0 or -1. */
static int resolve(void *lib, const char *name, void **slot)
{
    *slot = dlsym(lib, name);
    return *slot != NULL ? 0 : -1;
}

int curl_api_load(struct curl_api *api, char *err, size_t errlen)
{
    struct curl_api c = { 0 };
    const char *missing = NULL;
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        { "curl_global_init", (void **)&c.global_init },
        { "curl_global_cleanup", (void **)&c.global_cleanup },
        { "curl_easy_init", (void **)&c.easy_init },
        { "curl_easy_cleanup", (void **)&c.easy_cleanup },
        { "curl_easy_reset", (void **)&c.easy_reset },
        { "curl_easy_perform", (void **)&c.easy_perform },
        { "curl_easy_setopt", (void **)&c.easy_setopt },
        { "curl_easy_getinfo", (void **)&c.easy_getinfo },
        { "curl_easy_strerror", (void **)&c.easy_strerror },
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
