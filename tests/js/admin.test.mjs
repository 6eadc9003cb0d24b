// A JavaScript operator, written from DESIGN.md §3, §4 and §7 and
// fleet.proto alone, signs an AdminCommand and the supervisor carries it
// out (issue 11): the admin surface is plain protobuf and plain Ed25519.
//
// The operator key is made by npm @nats-io/nkeys (createUser()) and listed
// in the supervisor's config under operators:. The command is encoded by
// protobufjs from proto/fleet/v1/fleet.proto (nothing generated), signed
// with kp.sign(payload), wrapped in an Envelope and sent as a NATS request
// on fleet.v1.admin.restart. The supervisor must answer AdminReply ok,
// announce the restart in the operator's name (Event field 10) and the
// agent's child must be replaced; the same bytes again are refused as
// replayed, and a key not listed as unknown_operator.
//
// Run by admin.sh (ctest integration.js_admin), which starts nats-server,
// makes the supervisor's signing key and exports NATS_URL, FLEET_BIN_DIR and
// FLEET_ADMIN_DIR (a scratch directory: config, logs, processes.pids).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

import { connect, JSONCodec } from 'nats';
import protobuf from 'protobufjs';

import { contractTypes } from './contract.mjs';
import { startLogged } from './procs.mjs';

const require = createRequire(import.meta.url);
const nkeys = require('@nats-io/nkeys');

const Long = protobuf.util.Long;
const NATS_URL = process.env.NATS_URL;
const BIN = process.env.FLEET_BIN_DIR;
const DIR = process.env.FLEET_ADMIN_DIR;

const OPERATOR = 'js-operator';
const SERVICE = 'web';
const TARGET = 'web-1';        // restarted; web-2 keeps the service up meanwhile
const OTHER = 'web-2';
const INTERVAL_MS = 200;
const DEADLINE_MS = 20000;

// Numbers from DESIGN.md §4 (the contract).
const ServingState = { SERVING: 2 };
const InstanceHealth = { HEALTHY: 2 };
const ObserverState = { NORMAL: 2 };
const Action = { RESTART: 1 };

// toObject options: 64-bit integers as exact decimal strings, enums as numbers.
const AS_OBJECT = { longs: String, enums: Number, defaults: true, arrays: true };
const jc = JSONCodec();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let AdminCommand, AdminReply, Envelope, Event, Heartbeat, FleetStatus;
let nc, operatorKp;
const children = [];
const events = [];                  // every Event on fleet.v1.events.web, decoded
const lastHb = new Map();           // instance -> its latest Heartbeat, decoded
let lastStatus = null;              // the latest FleetStatus, decoded

/** Polls `pred` until it returns something truthy, or fails at the deadline saying `what`. */
async function waitFor(what, pred, ms = DEADLINE_MS) {
    const end = Date.now() + ms;
    for (;;) {
        const v = pred();
        if (v) return v;
        if (Date.now() > end)
            throw new Error(`timed out waiting for ${what}; status: ${JSON.stringify(lastStatus && lastStatus.services)}`);
        await sleep(20);
    }
}

/** Decodes every message on `subject` with `type` and hands it to `take`. */
function follow(subject, type, take) {
    const sub = nc.subscribe(subject);
    (async () => {
        for await (const m of sub) take(type.toObject(type.decode(m.data), AS_OBJECT));
    })();
}

function start(name, program, args) {
    return startLogged(DIR, children, name, program, args);
}

function startAgent(instance) {
    return start(`agent-${instance}`, `${BIN}/agent/fleet-agent`, [
        '-s', NATS_URL, '--service', SERVICE, '--instance', instance, '--interval-ms', String(INTERVAL_MS),
        '--grace-ms', '1000', '--trust', readFileSync(join(DIR, 'supervisor.pub'), 'utf8').trim(),
        '--', 'sleep', '1000']);
}

function instanceStatus(instance) {
    const svc = lastStatus && lastStatus.services.find((s) => s.name === SERVICE);
    return svc && svc.instances.find((i) => i.instance === instance);
}

/** An AdminCommand for `fields` (over a restart of web/web-1 by OPERATOR,
 *  valid 30 s from now), sealed in an Envelope by `kp`: DESIGN.md §4. */
function seal(kp, fields = {}) {
    const issued = Date.now();
    const payload = AdminCommand.encode(AdminCommand.fromObject({
        verb: 'restart',
        service: SERVICE,
        instance: TARGET,
        operator: OPERATOR,
        nonce: randomBytes(16),
        issued_unix_ms: Long.fromNumber(issued),
        expires_unix_ms: Long.fromNumber(issued + 30000),
        reason: 'js admin test',
        ...fields,
    })).finish();
    const signature = kp.sign(payload);
    assert.equal(signature.length, 64);
    return Envelope.encode(Envelope.create({ payload, signature, signer: kp.getPublicKey() })).finish();
}

/** Requests fleet.v1.admin.<verb> with `envelope`; the decoded AdminReply. */
async function admin(verb, envelope) {
    const m = await nc.request(`fleet.v1.admin.${verb}`, envelope, { timeout: 5000 });
    return AdminReply.toObject(AdminReply.decode(m.data), AS_OBJECT);
}

async function adminStats() {
    const m = await nc.request('$SRV.STATS.fleet-supervisor', new Uint8Array(0), { timeout: 2000 });
    return jc.decode(m.data).endpoints.find((e) => e.name === 'admin').data;
}

describe('a JavaScript operator signs an AdminCommand from the contract alone', { timeout: 120000 }, () => {
    let accepted;   // the envelope bytes the supervisor accepted

    before(async () => {
        assert.ok(NATS_URL && BIN && DIR, 'NATS_URL, FLEET_BIN_DIR and FLEET_ADMIN_DIR must be set (admin.sh)');
        ({ AdminCommand, AdminReply, Envelope, Event, Heartbeat, FleetStatus } = await contractTypes(
            'AdminCommand', 'AdminReply', 'Envelope', 'Event', 'Heartbeat', 'FleetStatus'));

        operatorKp = nkeys.createUser();
        assert.match(operatorKp.getPublicKey(), /^U[A-Z2-7]{55}$/);
        const config = join(DIR, 'fleet.yaml');
        writeFileSync(config, [
            'nats:', `  url: ${NATS_URL}`,
            'supervisor:', '  status_interval_ms: 200',
            'detector:', `  default_interval_ms: ${INTERVAL_MS}`,
            'services:', `  - name: ${SERVICE}`, '    desired: 2',
            'control:', `  signing_key_file: ${join(DIR, 'supervisor.seed')}`,
            'operators:', `  - name: ${OPERATOR}`, `    key: ${operatorKp.getPublicKey()}`,
            '    verbs: ["*"]', '    services: ["*"]', ''].join('\n'));

        nc = await connect({ servers: NATS_URL, name: 'fleet-js-admin' });
        follow(`fleet.v1.events.${SERVICE}`, Event, (e) => events.push(e));
        follow(`fleet.v1.hb.${SERVICE}.*`, Heartbeat, (h) => lastHb.set(h.instance, h));
        follow('fleet.v1.status', FleetStatus, (s) => { lastStatus = s; });
        await nc.flush();

        start('supervisor', `${BIN}/daemon/fleet-supervisor`, ['--config', config]);
        startAgent(TARGET);
        startAgent(OTHER);
        // Leading (not STANDBY, past its warm-up) and both instances HEALTHY.
        await waitFor('the supervisor leading with web-1 and web-2 HEALTHY', () =>
            lastStatus && lastStatus.observer === ObserverState.NORMAL &&
            [TARGET, OTHER].every((i) => instanceStatus(i) && instanceStatus(i).health === InstanceHealth.HEALTHY &&
                                         lastHb.has(i) && lastHb.get(i).state === ServingState.SERVING));
    });

    after(async () => {
        for (const c of children) {
            if (c.exitCode !== null || c.signalCode !== null) continue;
            const exited = new Promise((r) => c.once('exit', r));
            c.kill('SIGTERM');
            await exited;
        }
        if (nc) await nc.close();
    });

    it('a restart signed with an nkeys user key is accepted, audited in its name and done', async () => {
        const before = lastHb.get(TARGET), other = lastHb.get(OTHER);
        const done = (await adminStats()).done;
        const eventsBefore = events.length;

        accepted = seal(operatorKp);
        const reply = await admin('restart', accepted);
        assert.equal(reply.error, '');
        assert.equal(reply.ok, true, JSON.stringify(reply));
        assert.notEqual(reply.result, '');

        // Announced in the operator's name (Event field 10), with its reason.
        const ev = await waitFor('the RESTART event in the operator\'s name', () =>
            events.slice(eventsBefore).find((e) => e.instance === TARGET && e.action === Action.RESTART));
        assert.equal(ev.operator, OPERATOR, JSON.stringify(ev));
        assert.equal(ev.service, SERVICE);
        assert.match(ev.reason, /js admin test/);

        // The agent's child replaced: a new life, a new process, serving.
        const after = await waitFor('web-1 serving in a new incarnation', () => {
            const h = lastHb.get(TARGET);
            return h.incarnation !== before.incarnation && h.state === ServingState.SERVING && h;
        });
        assert.notEqual(after.pid, before.pid);
        await waitFor('web-1 HEALTHY again in its new life', () =>
            instanceStatus(TARGET).health === InstanceHealth.HEALTHY && instanceStatus(TARGET).incarnation === after.incarnation);
        // Only the target: web-2 kept its life.
        assert.equal(lastHb.get(OTHER).incarnation, other.incarnation);
        assert.equal(lastHb.get(OTHER).pid, other.pid);
        assert.equal((await adminStats()).done, done + 1);
    });

    it('the same envelope bytes again are refused as replayed', async () => {
        assert.ok(accepted, 'the accepted envelope of the previous test');
        const before = (await adminStats()).refused.replayed;
        const reply = await admin('restart', accepted);
        assert.equal(reply.ok, false);
        assert.match(reply.error, /^replayed: /);
        assert.equal((await adminStats()).refused.replayed, before + 1);
    });

    it('a command signed by another nkeys user is refused as unknown_operator', async () => {
        const before = (await adminStats()).refused.unknown_operator;
        const reply = await admin('restart', seal(nkeys.createUser()));
        assert.equal(reply.ok, false);
        assert.match(reply.error, /^unknown_operator: /);
        assert.equal((await adminStats()).refused.unknown_operator, before + 1);
    });
});
