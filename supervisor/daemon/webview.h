/* What the dashboard (/) and /api read, rendered on the owner thread and put
 * on the HTTP board (http_board.h): the page once; the FleetStatus as the
 * "status" blob (/api/status) and as a {"kind":"status","status":...} line
 * of /api/events each status interval; each Event as a
 * {"kind":"event","event":...} line. JSON is protobuf's canonical mapping
 * (pbjson.h), so the page and any script read the same schema as the
 * protobuf feed. A board that is NULL (HTTP off) makes every call a no-op;
 * out of memory skips one publication (logged), nothing else. */
#ifndef SUPERVISOR_WEBVIEW_H
#define SUPERVISOR_WEBVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "http_board.h"
#include "observer.h"

/* The dashboard page, once at start. */
void webview_page(struct http_board *b);

/* The fleet as the feed would publish it now (`max_bytes`: as the feed's
 * max_feed_bytes, so the page shows what the feed shows). */
void webview_status(struct http_board *b, struct observer *obs, const struct codec_fleet_header *hdr,
                    const struct codec_clock *clk, size_t max_bytes);

/* One core event, with the feed's sequence and term. */
void webview_event(struct http_board *b, const struct core_event *ev, uint64_t feed_seq, uint64_t term,
                   const struct codec_clock *clk);

#endif
