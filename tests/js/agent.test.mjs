// The real fleet-agent obeys a Control signed in JavaScript (DESIGN.md §4, §7).
//
// A key pair made by npm @nats-io/nkeys (createUser()) is the agent's only
// trusted key. This test starts fleet-agent with `--trust <that public key>`,
// learns the child's pid and incarnation from its heartbeats (decoded with
// protobufjs from proto/fleet/v1/fleet.proto, nothing generated), signs a
// RESTART Control with kp.sign(payload) and sends it as a NATS request: the
// agent must accept it and restart its child (new pid, new incarnation,
// SERVING again). Replays and Controls signed by an untrusted nkey must be
// refused with the right reason and leave the child alone.
//
// Run by agent.sh (ctest integration.js_agent), which starts nats-server and
// exports NATS_URL and FLEET_BIN_DIR. By hand:
//   NATS_URL=nats://127.0.0.1:4222 FLEET_BIN_DIR=build/supervisor node --test agent.test.mjs
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { connect } from 'nats';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const nkeys = require('@nats-io/nkeys');

const Long = protobuf.util.Long;
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const BIN_DIR = process.env.FLEET_BIN_DIR;
const PROTO = fileURLToPath(new URL('../../proto/fleet/v1/fleet.proto', import.meta.url));

const SERVICE = 'js-agent';
const INSTANCE = 'js-agent-1';
const HB_SUBJECT = `fleet.v1.hb.${SERVICE}.${INSTANCE}`;
const CTL_SUBJECT = `fleet.v1.ctl.${SERVICE}.${INSTANCE}`;
const INTERVAL_MS = 200;
const DEADLINE_MS = 15000;

// Numbers from DESIGN.md §4 (the contract).
const ServingState = { STARTING: 1, SERVING: 2 };
const Action = { RESTART: 1, RESUME: 5 };

// toObject options: 64-bit integers as exact decimal strings, enums as numbers.
const AS_OBJECT = { longs: String, enums: Number, defaults: true, arrays: true };

let Heartbeat, Control, Envelope, ControlAck;
let nc, hb, agent, agentExit, logPath, ownTmp;
let kp;                 // trusted: the agent runs with --trust kp.getPublicKey()

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const u64 = (s) => Long.fromString(String(s), true);

// seq rises per request: a base from the wall clock (so a rerun against the
// same agent would still rise) plus a counter, all as BigInt.
let seqNext = BigInt(Date.now()) * 1024n;
const nextSeq = () => (++seqNext).toString();

/** Decodes every Heartbeat of our instance; lets a test wait for one matching a predicate. */
class HeartbeatWatcher {
    constructor() {
        this.all = [];
        this.decodeErrors = [];
        this.waiters = new Set();
        this.sub = nc.subscribe(HB_SUBJECT);
        this.done = this.#loop();
    }

    async #loop() {
        for await (const m of this.sub) {
            let h;
            try {
                h = Heartbeat.toObject(Heartbeat.decode(m.data), AS_OBJECT);
            } catch (e) {
                this.decodeErrors.push(String(e));
                continue;
            }
            this.all.push(h);
            for (const w of this.waiters) {
                if (w.pred(h)) {
                    this.waiters.delete(w);
                    clearTimeout(w.timer);
                    w.resolve(h);
                }
            }
        }
    }

    get last() { return this.all[this.all.length - 1]; }

    /** The first heartbeat received from now on satisfying pred, or a rejection at the deadline. */
    next(pred, what, ms = DEADLINE_MS) {
        return new Promise((resolve, reject) => {
            const w = {
                pred, resolve,
                timer: setTimeout(() => {
                    this.waiters.delete(w);
                    const l = this.last;
                    reject(new Error(`no heartbeat ${what} within ${ms} ms; last: ` +
                                     (l ? JSON.stringify({ pid: l.pid, incarnation: l.incarnation,
                                                           state: l.state, seq: l.seq }) : 'none')));
                }, ms),
            };
            this.waiters.add(w);
        });
    }
}

/** Control -> signed Envelope bytes; `signer` is an nkeys KeyPair. */
function seal(signer, fields) {
    const now = Date.now();
    const msg = Control.fromObject({
        service: SERVICE,
        instance: INSTANCE,
        action: Action.RESTART,
        term: u64(0),
        issued_unix_ms: Long.fromNumber(now),
        expires_unix_ms: Long.fromNumber(now + 10000),
        nonce: randomBytes(16),
        reason: 'js',
        ...fields,
    });
    const payload = Control.encode(msg).finish();
    // The payload must carry the 64-bit values exactly (incarnations use all 64 bits).
    const back = Control.toObject(Control.decode(payload), AS_OBJECT);
    assert.equal(back.incarnation, fields.incarnation.toString());
    assert.equal(back.seq, fields.seq.toString());
    const signature = signer.sign(payload);
    assert.equal(signature.length, 64);
    return Envelope.encode(Envelope.create({ payload, signature, signer: signer.getPublicKey() })).finish();
}

/** Sends envelope bytes as a NATS request; returns the decoded ControlAck. */
async function request(envelope) {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
        try {
            const m = await nc.request(CTL_SUBJECT, envelope, { timeout: 5000 });
            return ControlAck.toObject(ControlAck.decode(m.data), AS_OBJECT);
        } catch (e) {
            // Not delivered to anyone (the agent not subscribed yet): safe to resend.
            if (String(e.code) === '503' && Date.now() < deadline) {
                await sleep(100);
                continue;
            }
            throw e;
        }
    }
}

/** Two heartbeats sent after this call still show the child `h.pid` of life `h.incarnation`. */
async function assertUntouched(h) {
    const count = watcher.all.length;
    const later = await watcher.next(() => watcher.all.length >= count + 2, 'after the refusal');
    assert.equal(later.pid, h.pid, 'pid unchanged');
    assert.equal(later.incarnation, h.incarnation, 'incarnation unchanged');
    assert.equal(later.state, ServingState.SERVING);
    assert.doesNotThrow(() => process.kill(h.pid, 0), `child ${h.pid} still alive`);
}

let watcher;
let first;              // the first SERVING heartbeat: { pid, incarnation, ... }
let restartEnv;         // the accepted RESTART envelope bytes
let restartSeq;
let second;             // the SERVING heartbeat of the restarted child

function dumpAgentLog() {
    try {
        process.stderr.write(`---- fleet-agent log (${logPath}) ----\n${readFileSync(logPath, 'utf8')}\n`);
    } catch { /* nothing to show */ }
}

describe('fleet-agent obeys a Control signed with npm @nats-io/nkeys', { timeout: 90000 }, () => {
    before(async () => {
        assert.ok(BIN_DIR, 'FLEET_BIN_DIR must name the supervisor/ directory of the build');
        const root = new protobuf.Root();
        await root.load(PROTO, { keepCase: true });
        root.resolveAll();
        Heartbeat = root.lookupType('fleet.v1.Heartbeat');
        Control = root.lookupType('fleet.v1.Control');
        Envelope = root.lookupType('fleet.v1.Envelope');
        ControlAck = root.lookupType('fleet.v1.ControlAck');

        kp = nkeys.createUser();
        assert.match(kp.getPublicKey(), /^U[A-Z2-7]{55}$/);

        nc = await connect({ servers: NATS_URL, name: 'fleet-js-agent' });
        watcher = new HeartbeatWatcher();
        await nc.flush();           // subscribed before the agent can send its first heartbeat

        if (process.env.FLEET_AGENT_LOG) {
            logPath = process.env.FLEET_AGENT_LOG;
        } else {
            ownTmp = mkdtempSync(join(tmpdir(), 'fleet-js-agent-'));
            logPath = join(ownTmp, 'agent.log');
        }
        const logFd = openSync(logPath, 'a');
        agent = spawn(join(BIN_DIR, 'agent', 'fleet-agent'),
                      ['--service', SERVICE, '--instance', INSTANCE, '--trust', kp.getPublicKey(),
                       '--interval-ms', String(INTERVAL_MS), '--', '/bin/sh', '-c', 'exec sleep 1000'],
                      { env: { ...process.env, NATS_URL }, stdio: ['ignore', logFd, logFd] });
        closeSync(logFd);
        agentExit = new Promise((resolve) => agent.once('exit', (code, signal) => resolve({ code, signal })));
        if (process.env.FLEET_AGENT_PIDFILE)
            writeFileSync(process.env.FLEET_AGENT_PIDFILE, `${agent.pid}\n`);
        // Whatever happens, do not leave the agent behind.
        process.once('exit', () => { try { agent.kill('SIGKILL'); } catch { /* gone */ } });
    });

    after(async () => {
        let exited = null;
        if (agent && agent.exitCode === null && agent.signalCode === null) {
            agent.kill('SIGTERM');
            let timer;
            exited = await Promise.race([agentExit,
                                         new Promise((r) => { timer = setTimeout(() => r(null), 15000); })]);
            clearTimeout(timer);
            if (exited === null) {
                agent.kill('SIGKILL');
                await agentExit;
            }
        }
        if (nc) {
            await nc.drain();
            await watcher.done;
        }
        // agent.sh prints the log on failure; by hand, FLEET_JS_VERBOSE=1 shows it.
        if (!process.env.FLEET_AGENT_LOG && process.env.FLEET_JS_VERBOSE)
            dumpAgentLog();
        if (ownTmp)
            rmSync(ownTmp, { recursive: true, force: true });
        assert.ok(exited !== null, 'fleet-agent exits on SIGTERM within 15 s');
        // It stops its child and exits with the child's status: 128 + SIGTERM.
        assert.equal(exited.code, 143, `fleet-agent exit: ${JSON.stringify(exited)}`);
    });

    it('reports its child SERVING with a pid and a 64-bit incarnation', async () => {
        first = await watcher.next((h) => h.state === ServingState.SERVING, 'SERVING');
        assert.equal(first.service, SERVICE);
        assert.equal(first.instance, INSTANCE);
        assert.equal(first.interval_ms, INTERVAL_MS);
        assert.ok(first.pid > 0, `pid ${first.pid}`);
        assert.notEqual(first.pid, agent.pid, 'the pid is the child, not the agent');
        assert.notEqual(BigInt(first.incarnation), 0n);
        assert.deepEqual(watcher.decodeErrors, []);
    });

    it('refuses a Control signed by an untrusted nkey (untrusted_signer), child untouched', async () => {
        const other = nkeys.createUser();
        assert.notEqual(other.getPublicKey(), kp.getPublicKey());
        const seq = nextSeq();
        const ack = await request(seal(other, { incarnation: u64(first.incarnation), seq: u64(seq) }));
        assert.equal(ack.accepted, false);
        assert.equal(ack.error, 'untrusted_signer');
        await assertUntouched(first);
    });

    it('accepts a RESTART signed with kp.sign() and restarts the child', async () => {
        restartSeq = nextSeq();
        restartEnv = seal(kp, { incarnation: u64(first.incarnation), seq: u64(restartSeq) });
        const ack = await request(restartEnv);
        assert.deepEqual(ack, { service: SERVICE, instance: INSTANCE, seq: restartSeq, accepted: true, error: '' });
        second = await watcher.next((h) => h.pid !== first.pid && h.incarnation !== first.incarnation &&
                                           h.state === ServingState.SERVING,
                                    'with a new pid and incarnation, SERVING');
        assert.ok(second.pid > 0);
        assert.notEqual(BigInt(second.incarnation), 0n);
        // The previous child is gone.
        assert.throws(() => process.kill(first.pid, 0), { code: 'ESRCH' }, `old child ${first.pid} gone`);
    });

    it('refuses the same (term, seq) again (replayed_seq), child untouched', async () => {
        // Same term and seq as the accepted RESTART, addressed to the new life
        // (fresh nonce and signature, so only the seq rule can refuse it).
        const ack = await request(seal(kp, { incarnation: u64(second.incarnation), seq: u64(restartSeq) }));
        assert.equal(ack.accepted, false);
        assert.equal(ack.error, 'replayed_seq');
        await assertUntouched(second);
    });

    it('refuses a byte-for-byte replay of an accepted Control (replayed_seq), child untouched', async () => {
        // A harmless accepted Control of this life (RESUME), then its exact bytes again.
        const seq = nextSeq();
        const env = seal(kp, { incarnation: u64(second.incarnation), seq: u64(seq), action: Action.RESUME });
        const ok = await request(env);
        assert.equal(ok.accepted, true, `RESUME refused: ${ok.error}`);
        const ack = await request(env);
        assert.equal(ack.accepted, false);
        assert.equal(ack.error, 'replayed_seq');
        // (A refusal's ack carries seq 0: the receiver names no field of a
        // Control it did not accept, so ack.seq is not checked here.)
        await assertUntouched(second);
    });

    it('refuses the replayed RESTART for the previous life (wrong_incarnation), child untouched', async () => {
        const ack = await request(restartEnv);
        assert.equal(ack.accepted, false);
        assert.equal(ack.error, 'wrong_incarnation');
        await assertUntouched(second);
    });
});
