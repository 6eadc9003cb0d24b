/* The live dashboard page (dashboard.html), compiled into the binary by
 * embed.cmake so the supervisor serves it with no file on disk. */
#ifndef SUPERVISOR_DASHBOARD_H
#define SUPERVISOR_DASHBOARD_H

#include <stddef.h>

extern const unsigned char fleet_dashboard_html[]; /* NUL-terminated */
extern const size_t fleet_dashboard_html_len;      /* without the NUL */

#endif
