/* The audit stream (store.h): every Event the feed publishes, captured by
 * JetStream on "<prefix>.v1.events.>" and kept audit_max_age_s. */
#include "store_private.h"

#include <stdio.h>
#include <string.h>

#include "fleet/subjects.h"

#include "log.h"

/* Replicas an existing stream keeps: never fewer than it has. */
static int64_t keep_at_least(struct store *s, int64_t want)
{
    jsStreamInfo *si = NULL;
    int64_t have = 0;

    if (js_GetStreamInfo(&si, s->js, s->audit_stream, NULL, NULL) == NATS_OK) {
        have = si->Config->Replicas;
        if (si->Cluster != NULL && si->Cluster->Name != NULL && si->Cluster->Name[0] != '\0')
            s->clustered = true;
        jsStreamInfo_Destroy(si);
    }
    if (have < want && s->clustered) {
        char from[24], to[24];

        snprintf(from, sizeof(from), "%lld", (long long)have);
        snprintf(to, sizeof(to), "%lld", (long long)want);
        log_kv(LOG_WARN, "replicas raised: this asset was replicated less than the configuration asks", "asset",
               "audit stream", "stream", s->audit_stream, "from", from, "to", to, NULL);
    }
    return have > want ? have : want;
}

int store_open_audit(struct store *s)
{
    char subject[FLEET_SUBJECT_MAX];
    const char *subjects[1] = { subject };
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st;

    (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_EVENTS_ALL, s->prefix, NULL, NULL);
    jsStreamConfig_Init(&sc);
    sc.Name = s->audit_stream;
    sc.Description = "fleet-supervisor audit trail: every Event on the feed";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_LimitsPolicy;
    sc.MaxAge = s->audit_max_age_s * 1000000000LL;
    sc.Storage = js_FileStorage;
    sc.Replicas = store_replicas_wanted(s);
    st = js_AddStream(&si, s->js, &sc, NULL, &jerr);
    if (st != NATS_OK && s->want_replicas == 0 && sc.Replicas > 1 &&
        store_replicas_refused(s, store_nats_why(st))) {
        s->rep_audit.short_of = s->clustered;
        sc.Replicas = 1;
        jerr = 0;
        st = js_AddStream(&si, s->js, &sc, NULL, &jerr);
    }
    if (st != NATS_OK && jerr == JSStreamNameExistErr) {
        /* Exists with another configuration (a new retention, fewer
         * replicas): apply ours, never lowering its replicas. */
        jsStreamInfo_Destroy(si);
        si = NULL;
        jerr = 0;
        sc.Replicas = keep_at_least(s, sc.Replicas);
        st = js_UpdateStream(&si, s->js, &sc, NULL, &jerr);
        if (st != NATS_OK && sc.Replicas > 1 && store_replicas_refused(s, store_nats_why(st))) {
            log_kv(LOG_WARN, "cannot raise replicas yet; kept as they are (retried every minute)", "asset",
                   "audit stream", "stream", s->audit_stream, "error", store_nats_why(st), NULL);
            s->rep_audit.short_of = true;
            st = js_GetStreamInfo(&si, s->js, s->audit_stream, NULL, &jerr);
        }
    }
    if (st == NATS_OK && si != NULL)
        s->rep_audit.have = (int)si->Config->Replicas;
    jsStreamInfo_Destroy(si);
    if (st == NATS_OK)
        return 0;
    snprintf(s->reason, sizeof(s->reason), "cannot create the audit stream %s on %s: %s%s", s->audit_stream,
             subject, store_nats_why(st),
             jerr == JSStreamSubjectOverlapErr ? " (another stream already captures these subjects)"
             : st == NATS_NO_RESPONDERS        ? " (is the server running with -js?)"
                                               : "");
    return -1;
}
