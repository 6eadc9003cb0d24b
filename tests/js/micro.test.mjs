// Zero-code supervision of NATS micro services (issue 13 §2), from the
// outside: micro.sh starts nats-server and a supervisor configured
// `probe: micro` for web (desired 2) and api (desired 1), with a signing
// key (it could send Controls) and an on_escalate hook recording
// "service|instance|reason". The services are micro_service.mjs processes
// (npm nats, nc.services.add), which know nothing of the fleet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { connect, JSONCodec, StringCodec } from 'nats';

import { contractTypes } from './contract.mjs';
import { startLogged } from './procs.mjs';

const NATS_URL = process.env.NATS_URL;
const DIR = process.env.FLEET_MICRO_DIR;
const HOOK_OUT = process.env.FLEET_MICRO_HOOK_OUT;
const SUP_PID = Number(process.env.FLEET_MICRO_SUPERVISOR_PID);
const DEADLINE_MS = 20000;
const Health = { HEALTHY: 2, DEAD: 5 };
const MAX_INSTANCES = 8;   // limits.max_instances_per_service in micro.sh (api wants 1: max(8, 2 x 1))

const jc = JSONCodec();
const sc = StringCodec();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
const controls = [];       // everything seen on fleet.v1.ctl.>
const events = [];         // Events on fleet.v1.events.>, decoded
let nc, ServiceStatus, Event;

async function waitFor(label, probe, timeoutMs = DEADLINE_MS) {
    const end = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await probe();
        if (last && last.ok) return last.value;
        if (Date.now() > end) throw new Error(`timed out waiting for ${label}; last: ${JSON.stringify(last && last.seen)}`);
        await sleep(100);
    }
}

/** The supervisor's ServiceStatus of `name` (fleet.v1.query.service). */
async function service(name) {
    const m = await nc.request('fleet.v1.query.service', sc.encode(name), { timeout: 2000 });
    return ServiceStatus.toObject(ServiceStatus.decode(m.data), { longs: Number, enums: Number, defaults: true, arrays: true });
}

async function srv(verb) {
    const m = await nc.request(`$SRV.${verb}.fleet-supervisor`, new Uint8Array(0), { timeout: 2000 });
    return jc.decode(m.data);
}

/** The heartbeat endpoint's figures in $SRV.STATS (micro: under .micro). */
async function stats() {
    return (await srv('STATS')).endpoints.find((e) => e.name === 'heartbeat').data;
}

/** Starts micro_service.mjs NAME VERSION; resolves with { child, id } once it answers pings. */
async function startMicro(label, name, version) {
    const child = startLogged(DIR, children, label, process.execPath, ['micro_service.mjs', NATS_URL, name, version]);
    const log = join(DIR, `${label}.log`);
    const id = await waitFor(`${label} ready`, async () => {
        const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
        const m = text.match(/^READY (\S+)$/m);
        return { ok: m !== null, value: m && m[1], seen: text.slice(-200) };
    });
    return { child, id };
}

function hookLines() {
    return existsSync(HOOK_OUT) ? readFileSync(HOOK_OUT, 'utf8').split('\n').filter((l) => l !== '') : [];
}

function instanceOf(st, id) {
    return st.instances.find((i) => i.instance === id);
}

describe('probe: micro', () => {
    let webA, webB, api;

    before(async () => {
        ({ ServiceStatus, Event } = await contractTypes('ServiceStatus', 'Event'));
        nc = await connect({ servers: NATS_URL, name: 'micro-test' });
        const ctl = nc.subscribe('fleet.v1.ctl.>');
        (async () => { for await (const m of ctl) controls.push(m.subject); })();
        const ev = nc.subscribe('fleet.v1.events.>');
        (async () => {
            for await (const m of ev)
                events.push(Event.toObject(Event.decode(m.data), { longs: Number, enums: Number, defaults: true }));
        })();
        await nc.flush();
        [webA, webB, api] = await Promise.all([
            startMicro('web-a', 'web', '1.4.2'), startMicro('web-b', 'web', '1.5.0'), startMicro('api', 'api', '2.0.0'),
        ]);
    });

    after(async () => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        if (nc) await nc.close();
    });

    it('lists every answering instance, named by its micro id, with its version', async () => {
        const web = await waitFor('both web instances HEALTHY', async () => {
            const st = await service('web');
            const a = instanceOf(st, webA.id), b = instanceOf(st, webB.id);
            return { ok: a && b && a.health === Health.HEALTHY && b.health === Health.HEALTHY, value: st, seen: st };
        });
        assert.equal(instanceOf(web, webA.id).version, '1.4.2');
        assert.equal(instanceOf(web, webB.id).version, '1.5.0');
        assert.deepEqual([...web.versions].sort(), ['1.4.2', '1.5.0']);
        assert.equal(web.healthy, 2);
        assert.equal(web.instances.length, 2);
        const apiSt = await waitFor('api HEALTHY', async () => {
            const st = await service('api');
            const i = instanceOf(st, api.id);
            return { ok: i && i.health === Health.HEALTHY, value: st, seen: st };
        });
        assert.equal(instanceOf(apiSt, api.id).version, '2.0.0');
        const s = await stats();
        assert.ok(s.micro.pings > 0 && s.micro.accepted > 0, JSON.stringify(s.micro));
    });

    it('a SIGKILLed instance goes DEAD and runs on_escalate; no Control is sent', async () => {
        await waitFor('the supervisor acting (NORMAL)', async () => {
            const p = await srv('PING');
            return { ok: p.metadata.observer === 'NORMAL' && p.metadata.leader === 'true', seen: p.metadata };
        });
        assert.deepEqual(hookLines(), []);
        process.kill(webB.child.pid, 'SIGKILL');
        await waitFor('web-b DEAD', async () => {
            const st = await service('web');
            const b = instanceOf(st, webB.id);
            return { ok: b && b.health === Health.DEAD, seen: st };
        });
        const line = await waitFor('the on_escalate hook run', async () => {
            const l = hookLines().find((x) => x.startsWith(`web|${webB.id}|`));
            return { ok: l !== undefined, value: l, seen: hookLines() };
        });
        assert.match(line, /\|no agent: RESTART escalated, not sent \(dead: silent /);
        // The feed says so too: an Event naming no action, DEAD staying DEAD.
        const said = await waitFor('the escalation event', async () => {
            const e = events.find((x) => x.instance === webB.id && x.reason.startsWith('no agent: '));
            return { ok: e !== undefined, value: e, seen: events.filter((x) => x.instance === webB.id) };
        });
        assert.equal(said.service, 'web');
        assert.equal(said.from, Health.DEAD);
        assert.equal(said.to, Health.DEAD);
        assert.equal(said.action, 0);
        assert.equal(said.reason, line.split('|')[2]);
        const st = await service('web');
        assert.equal(instanceOf(st, webA.id).health, Health.HEALTHY);
        assert.match(instanceOf(st, webB.id).reason, /^no agent: /);
        const s = await stats();
        assert.equal(s.micro.escalated_no_agent, 1);
        assert.equal(s.micro.controls_withheld, 0);
        assert.equal(s.control.sent, 0);
        // Given the time a retry or a backoff would take, still nothing more.
        await sleep(2000);
        assert.equal(hookLines().filter((l) => l.startsWith('web|')).length, 1, hookLines().join('\n'));
        await nc.flush();
        assert.deepEqual(controls, []);
    });

    it('a hostile answerer is refused and counted; the real instance stays right', async () => {
        const before = await stats();
        const hostile = startLogged(DIR, children, 'hostile', process.execPath, ['micro_hostile.mjs', NATS_URL, 'api', '30']);
        const log = join(DIR, 'hostile.log');
        await waitFor('20 pings answered by the hostile', async () => {
            const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
            return { ok: /^PINGS 20$/m.test(text), seen: text.slice(-100) };
        });
        // Meanwhile and after, the real api instance is HEALTHY with its own
        // version, and the service holds no more instances than its limit.
        for (let k = 0; k < 10; k++) {
            const st = await service('api');
            const i = instanceOf(st, api.id);
            assert.ok(i && i.health === Health.HEALTHY, JSON.stringify(i));
            assert.equal(i.version, '2.0.0');
            assert.ok(st.instances.length <= MAX_INSTANCES, `${st.instances.length} instances of api`);
            await sleep(100);
        }
        hostile.kill('SIGKILL');
        const s = await stats();
        const grew = (k) => s.micro.refused[k] - before.micro.refused[k];
        // 20+ pings, each answered with 2 bad JSON, 1 wrong name, 4 bad ids,
        // 1 oversize, 1 wrong type, 1 bad version.
        assert.ok(grew('bad_json') >= 40, JSON.stringify(s.micro));
        assert.ok(grew('wrong_name') >= 20, JSON.stringify(s.micro));
        assert.ok(grew('bad_id') >= 80, JSON.stringify(s.micro));
        assert.ok(grew('size') >= 20, JSON.stringify(s.micro));
        assert.ok(grew('bad_type') >= 20, JSON.stringify(s.micro));
        assert.ok(grew('bad_version') >= 20, JSON.stringify(s.micro));
        // The flood of fresh ids: the instance limit holds, every extra counted.
        assert.ok(s.refused.limit_instances - before.refused.limit_instances >= 20 * 30 - MAX_INSTANCES,
                  JSON.stringify(s.refused));
        // Its made-up instances fall silent once it is gone: surplus to a
        // service with its desired healthy instance, they are not escalated.
        await sleep(3000);
        assert.equal(instanceOf(await service('api'), api.id).health, Health.HEALTHY);
        assert.deepEqual(hookLines().filter((l) => l.startsWith('api|')), []);
        assert.deepEqual(events.filter((e) => e.service === 'api' && e.action !== 0), []);
        assert.equal((await stats()).control.sent, 0);
        await nc.flush();
        assert.deepEqual(controls, []);
        process.kill(SUP_PID, 0);   // still running
    });
});
