/* The dashboard's and /api's view of the fleet (webview.h). */
#include "webview.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dashboard.h"
#include "fleet/v1/fleet.pb-c.h"
#include "log.h"
#include "pbjson.h"

void webview_page(struct http_board *b)
{
    if (b != NULL && http_board_publish(b, "index", fleet_dashboard_html, fleet_dashboard_html_len,
                                        "text/html; charset=utf-8") != 0)
        log_kv(LOG_ERROR, "cannot publish the dashboard page: out of memory", NULL);
}

/* Puts {"kind": kind, kind: msg as JSON} on the stream; 0 or -1. */
static int stream(struct http_board *b, const char *kind, const ProtobufCMessage *msg)
{
    json_t *wrap = json_object(), *obj = pbjson_object(msg);
    char *text = NULL;
    int rc = -1;

    if (wrap == NULL || obj == NULL || json_object_set_new(wrap, "kind", json_string(kind)) != 0 ||
        json_object_set_new(wrap, kind, obj) != 0) {
        json_decref(obj);
        goto out_free_wrap;
    }
    text = json_dumps(wrap, JSON_COMPACT);
    if (text != NULL)
        rc = http_board_event(b, text);
    free(text);
out_free_wrap:
    json_decref(wrap);
    return rc;
}

void webview_status(struct http_board *b, struct observer *obs, const struct codec_fleet_header *hdr,
                    const struct codec_clock *clk, size_t max_bytes)
{
    Fleet__V1__FleetStatus *fs;
    uint8_t *buf;
    size_t len;
    char *text;

    if (b == NULL)
        return;
    if (codec_fleet_status_pack(obs, hdr, clk, max_bytes, &buf, &len) != 0)
        goto out_no_memory;
    /* The feed's own bytes, read back: the page sees exactly the feed. */
    fs = fleet__v1__fleet_status__unpack(NULL, len, buf);
    free(buf);
    if (fs == NULL)
        goto out_no_memory;
    text = pbjson_render(&fs->base);
    if (text == NULL || http_board_publish(b, "status", text, strlen(text), "application/json") != 0 ||
        stream(b, "status", &fs->base) != 0) {
        free(text);
        fleet__v1__fleet_status__free_unpacked(fs, NULL);
        goto out_no_memory;
    }
    free(text);
    fleet__v1__fleet_status__free_unpacked(fs, NULL);
    return;

out_no_memory:
    log_kv(LOG_ERROR, "cannot render the status for HTTP: out of memory", NULL);
}

void webview_event(struct http_board *b, const struct core_event *ev, uint64_t feed_seq, uint64_t term,
                   const struct codec_clock *clk)
{
    Fleet__V1__Event *e;
    uint8_t *buf;
    size_t len;

    if (b == NULL)
        return;
    if (codec_event_pack(ev, feed_seq, term, clk, &buf, &len) != 0)
        goto out_no_memory;
    e = fleet__v1__event__unpack(NULL, len, buf);
    free(buf);
    if (e == NULL)
        goto out_no_memory;
    if (stream(b, "event", &e->base) != 0) {
        fleet__v1__event__free_unpacked(e, NULL);
        goto out_no_memory;
    }
    fleet__v1__event__free_unpacked(e, NULL);
    return;

out_no_memory:
    log_kv(LOG_ERROR, "cannot render an event for HTTP: out of memory", NULL);
}
