// The supervisor's own NATS micro replies ($SRV.PING/INFO/STATS, bare and
// .fleet-supervisor[.<id>]) against the JSON Schemas the `nats` CLI uses
// (nats-io/jsm.go schemas/micro/v1, fixtures in schemas/micro/v1/), with a
// real validator (ajv, draft-07 as the schemas declare, ajv-formats for
// `date-time`). micro.sh starts nats-server and the supervisor; this test
// also starts one nats.js micro service, whose replies the same schemas
// must accept (the validator's control) and which answers the bare
// subjects too, as any micro service on the bus would.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { connect, JSONCodec, RequestStrategy } from 'nats';

import { startLogged } from './procs.mjs';

const NATS_URL = process.env.NATS_URL;
const DIR = process.env.FLEET_MICRO_DIR;
const SCHEMAS = fileURLToPath(new URL('./schemas/micro/v1/', import.meta.url));
const VERBS = { PING: 'ping_response', INFO: 'info_response', STATS: 'stats_response' };
const jc = JSONCodec();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
let nc, validators, supervisorId;

/** Every answer to `subject` within 500 ms, decoded. */
async function answers(subject) {
    const out = [];
    const it = await nc.requestMany(subject, new Uint8Array(0), { strategy: RequestStrategy.Timer, maxWait: 500 });
    for await (const m of it) out.push(jc.decode(m.data));
    return out;
}

function check(verb, doc) {
    const validate = validators[verb];
    assert.ok(validate(doc), `${verb} reply of ${doc.name}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(doc)}`);
}

describe('$SRV replies against nats-io/jsm.go schemas/micro/v1', () => {
    before(async () => {
        const ajv = new Ajv({ strict: true, allErrors: true });
        addFormats(ajv);
        validators = Object.fromEntries(Object.entries(VERBS).map(([verb, file]) => {
            const schema = JSON.parse(readFileSync(join(SCHEMAS, `${file}.json`), 'utf8'));
            assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
            return [verb, ajv.compile(schema)];
        }));
        nc = await connect({ servers: NATS_URL, name: 'srv-schema-test' });
        startLogged(DIR, children, 'micro-js', process.execPath, ['micro_service.mjs', NATS_URL, 'web', '1.4.2']);
        const log = join(DIR, 'micro-js.log');
        for (const end = Date.now() + 20000; ;) {
            if (existsSync(log) && /^READY /m.test(readFileSync(log, 'utf8'))) break;
            if (Date.now() > end) throw new Error('the nats.js micro service did not start');
            await sleep(100);
        }
        for (const end = Date.now() + 20000; !supervisorId;) {
            const got = (await answers('$SRV.PING.fleet-supervisor'))[0];
            supervisorId = got && got.id;
            if (!supervisorId && Date.now() > end) throw new Error('no supervisor answers $SRV.PING.fleet-supervisor');
        }
    });

    after(async () => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        if (nc) await nc.close();
    });

    it('the validator takes a nats.js micro reply and refuses a broken one', async () => {
        for (const verb of Object.keys(VERBS)) {
            const [web] = await answers(`$SRV.${verb}.web`);
            assert.ok(web, `no ${verb} answer from the nats.js service`);
            if (verb === 'STATS') {
                // nats.js 2.29 leaves `last_error` out until an endpoint has
                // failed, which the schema requires: that, and only that, is
                // what the validator finds in its STATS reply.
                const validate = validators.STATS;
                assert.equal(validate(web), false);
                assert.deepEqual(validate.errors.map((e) => e.params.missingProperty), ['last_error']);
                web.endpoints = web.endpoints.map((e) => ({ last_error: '', ...e }));
            }
            check(verb, web);
            assert.equal(validators[verb]({ ...web, version: 'v1' }), false, `${verb}: a non-semver version passed`);
            assert.equal(validators[verb]({ ...web, type: 'io.nats.micro.v1.other' }), false);
            assert.equal(validators[verb]({ ...web, metadata: { n: 1 } }), false, `${verb}: a number in metadata passed`);
            if (verb === 'STATS')
                assert.equal(validators.STATS({ ...web, started: 'yesterday' }), false);
        }
    });

    for (const verb of Object.keys(VERBS)) {
        it(`$SRV.${verb}, $SRV.${verb}.fleet-supervisor and $SRV.${verb}.fleet-supervisor.<id> are schema-valid`, async () => {
            const subjects = [`$SRV.${verb}`, `$SRV.${verb}.fleet-supervisor`, `$SRV.${verb}.fleet-supervisor.${supervisorId}`];
            for (const subject of subjects) {
                const got = await answers(subject);
                const ours = got.filter((d) => d.name === 'fleet-supervisor');
                assert.equal(ours.length, 1, `${subject}: ${JSON.stringify(got)}`);
                assert.equal(ours[0].id, supervisorId);
                check(verb, ours[0]);
                // The nats.js service answers the bare subject too; its PING
                // and INFO are valid (its STATS is not: see above).
                for (const doc of got.filter((d) => d.name !== 'fleet-supervisor' && verb !== 'STATS'))
                    check(verb, doc);
                if (subject === `$SRV.${verb}`)
                    assert.ok(got.some((d) => d.name === 'web'), `${subject}: the micro service did not answer`);
            }
        });
    }

    it('STATS carries the micro probe figures in the heartbeat endpoint data', async () => {
        const [st] = (await answers('$SRV.STATS.fleet-supervisor')).filter((d) => d.name === 'fleet-supervisor');
        const micro = st.endpoints.find((e) => e.name === 'heartbeat').data.micro;
        for (const k of ['pings', 'ping_failed', 'answers', 'accepted', 'no_responders', 'escalated_no_agent', 'controls_withheld'])
            assert.equal(typeof micro[k], 'number', k);
        for (const k of ['size', 'bad_json', 'bad_type', 'wrong_name', 'bad_id', 'bad_version', 'unknown_service', 'overload'])
            assert.equal(typeof micro.refused[k], 'number', k);
    });
});
