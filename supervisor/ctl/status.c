/* fleetctl status: one query, one table (or one JSON object). */
#include <unistd.h>

#include "ctl.h"
#include "fleet/subjects.h"
#include "render.h"

static int print_status(const struct ctl_opts *o, const Fleet__V1__FleetStatus *st)
{
    if (o->json) {
        json_t *j = render_status_json(st);

        if (j == NULL || json_dumpf(j, stdout, RENDER_JSON_FLAGS) != 0) {
            json_decref(j);
            fprintf(stderr, "fleetctl: cannot write the status as JSON\n");
            return CTL_EXIT_FAIL;
        }
        json_decref(j);
        fputc('\n', stdout);
    } else {
        struct render_opts ro = { .color = ctl_use_color(), .now_ms = fleet_unix_ms() };
        fleet_status rs = render_status_table(stdout, st, &ro);

        if (rs != FLEET_OK) {
            fprintf(stderr, "fleetctl: cannot print the status: %s\n", fleet_status_text(rs));
            return CTL_EXIT_FAIL;
        }
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "fleetctl: cannot write to stdout\n");
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

int ctl_cmd_status(struct ctl_opts *o, int argc, char **argv)
{
    Fleet__V1__FleetStatus *st = NULL;
    natsConnection *nc = NULL;
    fleet_status fs;
    int rc;

    if (argc > 1) {
        fprintf(stderr, "fleetctl status: unexpected argument '%s' (status takes flags only; "
                        "run 'fleetctl --help')\n", argv[1]);
        return CTL_EXIT_USAGE;
    }
    if (ctl_connect(o, NULL, &nc) != FLEET_OK) {
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }
    fs = ctl_query_status(nc, o, &st);
    if (fs == FLEET_ERR_DECODE) {
        char subject[FLEET_SUBJECT_MAX];

        (void)fleet_subject(subject, sizeof(subject), FLEET_SUBJECT_QUERY_STATUS, o->prefix, NULL, NULL);
        fprintf(stderr, "fleetctl: the reply on %s is not a FleetStatus: "
                        "is something else answering there?\n", subject);
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }
    if (fs != FLEET_OK) {
        ctl_explain_no_answer(o);
        rc = CTL_EXIT_FAIL;
        goto out_close;
    }
    rc = print_status(o, st);
    fleet__v1__fleet_status__free_unpacked(st, NULL);

out_close:
    ctl_conn_close(nc);
    return rc;
}
