// Hostile publishers against a proven instance (issue 9), written only from
// DESIGN.md and fleet.proto. forger.sh starts nats-server, the supervisor
// (signing key, on_escalate hook) and fleet-agent web/web-1 (which proves
// every heartbeat). A forger may publish on fleet.v1.hb.web.web-1 but does
// not hold the life's key. Each attack is followed by a window in which the
// instance must stay HEALTHY with the same life, the agent's child must be
// the same process, and the refusal must be counted in $SRV.STATS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { connect, JSONCodec } from 'nats';
import protobuf from 'protobufjs';

const Long = protobuf.util.Long;
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const HOOK_OUT = process.env.FLEET_FORGER_HOOK_OUT;
const PROTO = fileURLToPath(new URL('../../proto/fleet/v1/fleet.proto', import.meta.url));
const SUBJECT = 'fleet.v1.hb.web.web-1';
const DEADLINE_MS = 20000;
// After an attack: long enough for a forged exit report to have been acted
// on (at once), a wedged seq to have run into the DEAD bound (5 intervals of
// 200 ms) and a restart to have been decided and sent, several times over.
const WINDOW_MS = 3000;
const BIN = process.env.FLEET_BIN_DIR;
const SUP_PID = Number(process.env.FLEET_FORGER_SUPERVISOR_PID);
const AGENT_PID = Number(process.env.FLEET_FORGER_AGENT_PID);
const extraAgents = [];

const ServingState = { SERVING: 2, EXITED: 7 };
const InstanceHealth = { HEALTHY: 2 };
const AS_OBJECT = { longs: String, enums: Number, defaults: true, arrays: true, bytes: Buffer };
const U64_MAX = '18446744073709551615';
const FORGER_HOST = 'forger';

let Heartbeat, FleetStatus, nc, hbSub, statusSub;
let lastReal = null;        // the last heartbeat the agent sent, decoded
let lastStatus = null;      // the last FleetStatus
const jc = JSONCodec();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function webOf(st) {
    const svc = st && st.services.find((s) => s.name === 'web');
    return svc && svc.instances.find((i) => i.instance === 'web-1');
}

async function waitFor(label, pred, timeoutMs = DEADLINE_MS) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const v = pred();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${label}; last status: ${JSON.stringify(webOf(lastStatus))}`);
        await sleep(50);
    }
}

async function stats() {
    const m = await nc.request('$SRV.STATS.fleet-supervisor', new Uint8Array(0), { timeout: 2000 });
    return jc.decode(m.data).endpoints[0].data;
}

/** Publishes `n` forged heartbeats built by `make(real, k)` from the
 *  latest real one, then watches WINDOW_MS: every FleetStatus must show
 *  web-1 HEALTHY with the real life, and the child must be the same. */
async function attack(n, make) {
    const real = lastReal;
    const life = real.incarnation, pid = real.pid;
    for (let k = 0; k < n; k++) {
        const forged = { ...make(structuredClone(real), k), host: FORGER_HOST };
        nc.publish(SUBJECT, Heartbeat.encode(Heartbeat.fromObject(forged)).finish());
        await sleep(20);
    }
    await nc.flush();
    const end = Date.now() + WINDOW_MS;
    let seen = 0;
    while (Date.now() < end) {
        const inst = webOf(lastStatus);
        assert.ok(inst, 'web-1 vanished from the feed');
        assert.equal(inst.health, InstanceHealth.HEALTHY, `web-1 left HEALTHY: ${JSON.stringify(inst)}`);
        assert.equal(inst.incarnation, life, 'the feed shows another life for web-1');
        seen++;
        await sleep(50);
    }
    assert.ok(seen > 10);
    assert.equal(lastReal.incarnation, life, 'the agent started a new life: its child was restarted');
    assert.equal(lastReal.pid, pid, 'the agent\'s child changed');
    assert.ok(BigInt(lastReal.seq) > BigInt(real.seq), 'the real heartbeats stopped');
    assert.equal(existsSync(HOOK_OUT), false, 'the on_escalate hook ran');
}

describe('forged heartbeats cannot harm a proven instance', { timeout: 120000 }, () => {
    before(async () => {
        const root = new protobuf.Root();
        await root.load(PROTO, { keepCase: true });
        root.resolveAll();
        Heartbeat = root.lookupType('fleet.v1.Heartbeat');
        FleetStatus = root.lookupType('fleet.v1.FleetStatus');
        nc = await connect({ servers: NATS_URL, name: 'fleet-js-forger' });
        hbSub = nc.subscribe(SUBJECT);
        statusSub = nc.subscribe('fleet.v1.status');
        (async () => {
            for await (const m of hbSub) {
                const hb = Heartbeat.toObject(Heartbeat.decode(m.data), AS_OBJECT);
                // Our own forgeries come back on this subject too (marked
                // by their host, which no decision reads).
                if (hb.host !== FORGER_HOST)
                    lastReal = hb;
            }
        })();
        (async () => {
            for await (const m of statusSub)
                lastStatus = FleetStatus.toObject(FleetStatus.decode(m.data), AS_OBJECT);
        })();
        await waitFor('web-1 HEALTHY with a proven life', () =>
            lastReal && lastReal.incarnation_key.length === 32 && webOf(lastStatus) &&
            webOf(lastStatus).health === InstanceHealth.HEALTHY && webOf(lastStatus).incarnation === lastReal.incarnation);
        const s = await stats();
        assert.ok(s.proofs.proven > 0, 'the supervisor proves nothing: the test would prove nothing');
    });

    after(async () => {
        for (const a of extraAgents) if (a.exitCode === null) a.kill('SIGKILL');
        if (nc) await nc.close();
    });

    it('a forged seq 2^64-1 with the real life and its proof is refused (bad proof)', async () => {
        const before = await stats();
        await attack(5, (hb) => ({ ...hb, seq: Long.fromString(U64_MAX, true) }));
        const now = await stats();
        assert.ok(now.refused.bad_proof >= before.refused.bad_proof + 5, JSON.stringify(now.refused));
    });

    it('a forged seq 2^64-1 without a proof is refused (unproven)', async () => {
        const before = await stats();
        await attack(5, (hb) => ({ ...hb, seq: Long.fromString(U64_MAX, true), proof: Buffer.alloc(0),
                                   incarnation_key: Buffer.alloc(0) }));
        const now = await stats();
        assert.ok(now.refused.unproven >= before.refused.unproven + 5, JSON.stringify(now.refused));
    });

    it('six forged exit reports of the current life neither restart nor fence it', async () => {
        const before = await stats();
        const exited = (hb, k) => ({ ...hb, seq: Long.fromString((BigInt(hb.seq) + 1n + BigInt(k)).toString(), true),
                                     state: ServingState.EXITED,
                                     exit: { code: 1, signal: 0, at_unix_ms: Long.fromNumber(Date.now()) } });
        await attack(6, exited);                                                  // with the stale proof
        await attack(6, (hb, k) => ({ ...exited(hb, k), proof: Buffer.alloc(0) })); // with none
        const now = await stats();
        assert.ok(now.refused.bad_proof >= before.refused.bad_proof + 6, JSON.stringify(now.refused));
        assert.ok(now.refused.unproven >= before.refused.unproven + 6, JSON.stringify(now.refused));
    });

    it('a forged incarnation is refused: with no key, a key it does not derive from, or a key of its own', async () => {
        const before = await stats();
        const other = () => Long.fromString((BigInt.asUintN(64, randomBytes(8).readBigUInt64LE(0)) | 1n).toString(), true);
        // No key, no proof: a new life nobody proved.
        await attack(3, (hb) => ({ ...hb, incarnation: other(), seq: Long.fromNumber(1), proof: Buffer.alloc(0),
                                   incarnation_key: Buffer.alloc(0) }));
        // The real life's key with another incarnation: the key does not make it.
        await attack(3, (hb) => ({ ...hb, incarnation: other(), seq: Long.fromNumber(1) }));
        // A key of its own (incarnation derived from it as the contract says)
        // but a proof it cannot make without the supervisor's agreement.
        const key = randomBytes(32);
        const inc = createHash('sha256').update(key).digest().readBigUInt64LE(0);
        await attack(3, (hb) => ({ ...hb, incarnation: Long.fromString(inc.toString(), true), seq: Long.fromNumber(1),
                                   incarnation_key: key,
                                   proof: Buffer.concat([hb.proof.subarray(0, 8), randomBytes(32)]) }));
        const now = await stats();
        assert.ok(now.refused.bad_key >= before.refused.bad_key + 3, JSON.stringify(now.refused));
        assert.ok(now.refused.unproven + now.refused.bad_proof >= before.refused.unproven + before.refused.bad_proof + 6,
                  JSON.stringify(now.refused));
        assert.equal(now.proofs.conflicts, before.proofs.conflicts, 'an unproven life was taken as a contender');
    });

    it('ghost instances that come and go, one promising a 10-minute interval, steer nothing', async () => {
        const ghosts = [];
        for (let g = 0; g < 4; g++) {
            const inc = Long.fromNumber(1000 + g);
            ghosts.push(setInterval((() => { let seq = 0; return () => nc.publish(`fleet.v1.hb.spectre.s-${g}`,
                Heartbeat.encode(Heartbeat.fromObject({ service: 'spectre', instance: `s-${g}`, incarnation: inc,
                    seq: Long.fromNumber(++seq), interval_ms: g === 0 ? 600000 : 200,
                    state: ServingState.SERVING, host: FORGER_HOST })).finish()); })(), 200));
        }
        await waitFor('the four ghosts on the feed', () => {
            const svc = lastStatus.services.find((x) => x.name === 'spectre');
            return svc && svc.instances.length === 4;
        });
        await sleep(600);
        ghosts.forEach(clearInterval);    // all four vanish at once
        const end = Date.now() + WINDOW_MS;
        while (Date.now() < end) {
            assert.equal(lastStatus.observer, 2 /* NORMAL */, `observer left NORMAL (${lastStatus.observer})`);
            await sleep(50);
        }
    });

    it('a flood of made-up names: bounded memory, the feed goes on, all refused and counted', async () => {
        const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${SUP_PID}/status`, 'utf8'))[1]) * 1024;
        const before = await stats(), rss0 = rss();
        const statuses0 = before.statuses_published;
        let maxGap = 0, last = Date.now(), prevSeq = lastStatus.feed_seq;
        const watch = setInterval(() => {
            if (lastStatus.feed_seq !== prevSeq) { prevSeq = lastStatus.feed_seq; last = Date.now(); }
            maxGap = Math.max(maxGap, Date.now() - last);
        }, 20);
        const N = 150000;
        for (let k = 0; k < N; k++) {
            const svc = `ghost-${k % 1000}`, inst = `g-${k}`;
            nc.publish(`fleet.v1.hb.${svc}.${inst}`, Heartbeat.encode(Heartbeat.fromObject({
                service: svc, instance: inst, incarnation: Long.fromNumber(k + 1), seq: Long.fromNumber(1),
                interval_ms: 1000, state: ServingState.SERVING, host: FORGER_HOST })).finish());
            if (k % 5000 === 4999) await nc.flush();
        }
        await nc.flush();
        let now;
        for (const end = Date.now() + DEADLINE_MS; ;) {
            now = await stats();
            if (now.received >= before.received + N || Date.now() > end) break;
            await sleep(100);
        }
        await sleep(1000);
        clearInterval(watch);
        now = await stats();
        assert.ok(now.received >= before.received + N, `received ${now.received - before.received} of ${N}`);
        // Past the limits (16 unexpected services of 16 instances) every
        // one is refused under some counted reason.
        const refused = (st) => Object.values(st.refused).reduce((x, y) => x + y, 0);
        assert.ok(refused(now) - refused(before) >= N - 16 * 16, JSON.stringify(now.refused));
        assert.ok(now.refused.limit_services > before.refused.limit_services, JSON.stringify(now.refused));
        assert.ok(now.statuses_published > statuses0 + 5, 'the feed stopped');
        assert.ok(maxGap < 2000, `the feed was silent ${maxGap} ms during the flood`);
        console.log(`# flood: supervisor RSS ${rss0} -> ${rss()} bytes, longest feed silence ${maxGap} ms`);
        assert.ok(rss() - rss0 < 32 * 1024 * 1024, `RSS grew by ${rss() - rss0} bytes`);
        assert.equal(webOf(lastStatus).health, InstanceHealth.HEALTHY);
    });

    it('a real death after all this is still repaired, through a flood of forged refusals', async () => {
        // The forger, like any sibling, can read web-1's Controls and answer
        // on their reply subject: 50 refusals naming another instance or
        // another seq per Control, before the agent's real ack.
        const ControlAck = Heartbeat.root.lookupType('fleet.v1.ControlAck');
        const ctl = nc.subscribe('fleet.v1.ctl.web.web-1');
        (async () => {
            for await (const m of ctl) {
                if (!m.reply) continue;
                for (let k = 0; k < 50; k++)
                    nc.publish(m.reply, ControlAck.encode(ControlAck.fromObject({
                        service: 'web', instance: k % 2 ? 'web-9' : 'web-1', seq: Long.fromNumber(k),
                        accepted: false, error: 'forged refusal' })).finish());
            }
        })();
        const before = await stats();
        const real = lastReal;
        process.kill(real.pid, 'SIGKILL');
        await waitFor('a new life of web-1, HEALTHY', () =>
            lastReal.incarnation !== real.incarnation && webOf(lastStatus) &&
            webOf(lastStatus).incarnation === lastReal.incarnation && webOf(lastStatus).health === InstanceHealth.HEALTHY);
        ctl.unsubscribe();
        const now = await stats();
        assert.ok(now.control.acks_unmatched >= before.control.acks_unmatched + 50, JSON.stringify(now.control));
        assert.equal(now.control.acks_refused, before.control.acks_refused, JSON.stringify(now.control));
        assert.equal(existsSync(HOOK_OUT), false, 'the on_escalate hook ran');
    });

    it('ECS task replacement: the dead task is neither restarted nor escalated', async () => {
        const web2 = spawn(`${BIN}/agent/fleet-agent`, ['-s', NATS_URL, '--service', 'web', '--instance', 'web-2',
            '--interval-ms', '200', '--grace-ms', '1000', '--trust', process.env.FLEET_FORGER_TRUST, '--', 'sleep', '1000'],
            { stdio: 'ignore' });
        extraAgents.push(web2);
        appendFileSync(`${process.env.FLEET_FORGER_DIR}/extra.pids`, `${web2.pid}\n`);
        const inst2 = () => {
            const svc = lastStatus.services.find((x) => x.name === 'web');
            return svc && svc.instances.find((i) => i.instance === 'web-2');
        };
        await waitFor('web-2 HEALTHY', () => inst2() && inst2().health === InstanceHealth.HEALTHY);
        const before = await stats();
        const child = lastReal.pid;
        process.kill(AGENT_PID, 'SIGKILL');   // the whole task: agent and child at once
        process.kill(child, 'SIGKILL');
        await waitFor('web-1 no longer HEALTHY', () => webOf(lastStatus) && webOf(lastStatus).health !== InstanceHealth.HEALTHY);
        await sleep(WINDOW_MS);
        const now = await stats();
        assert.equal(now.control.sent, before.control.sent, 'a Control went to the replaced task');
        assert.equal(existsSync(HOOK_OUT), false, 'the on_escalate hook ran');
        assert.equal(inst2().health, InstanceHealth.HEALTHY);
    });

    it('ECS graceful stop: SIGTERM to the agent is a stop, not a death', async () => {
        const before = await stats();
        const web2 = extraAgents[0];
        const exited = new Promise((r) => web2.on('exit', r));
        web2.kill('SIGTERM');
        await exited;
        await sleep(WINDOW_MS);
        const now = await stats();
        const svc = lastStatus.services.find((x) => x.name === 'web');
        const inst = svc.instances.find((i) => i.instance === 'web-2');
        assert.ok(inst, 'web-2 vanished at once');
        assert.equal(inst.health, 9 /* STOPPED */, `web-2 is ${inst.health}: ${inst.reason}`);
        assert.equal(now.control.sent, before.control.sent, 'a Control went to a stopped instance');
        assert.equal(existsSync(HOOK_OUT), false, 'the on_escalate hook ran');
    });
});
