// Non-C client interop test (DESIGN.md §3-§4).
//
// A plain Node.js client, using only npm `nats` and `protobufjs` loading our
// proto/fleet/v1/fleet.proto at run time (no generated code, nothing from the C
// side), sends heartbeats to a running fleet-supervisor and decodes its feed:
// proof that the wire format is plain protobuf any language can use.
//
// Run by tests/js/run.sh (ctest integration.js_interop), which starts
// nats-server and fleet-supervisor and exports NATS_URL.  By hand:
//   NATS_URL=nats://127.0.0.1:4222 node --test interop.test.mjs
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { connect } from 'nats';
import protobuf from 'protobufjs';

const Long = protobuf.util.Long;
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const PROTO = fileURLToPath(new URL('../../proto/fleet/v1/fleet.proto', import.meta.url));

const SERVICE = 'js-svc';
const VERSION = '9.9.9';
const HB_INTERVAL_MS = 200;
const DEADLINE_MS = 15000; // generous: warm-up is about one interval (1 s)

// The enum numbers are the contract (DESIGN.md §4): a client written from the
// page alone uses these numbers; the first test checks the .proto agrees.
const ServingState = { SERVING: 2 };
const ServiceHealth = { AVAILABLE: 1, DEGRADED: 2 };
const InstanceHealth = { HEALTHY: 2, SUSPECT: 4, DEAD: 5 };
const ObserverState = { NORMAL: 2 };

// toObject options: 64-bit integers as decimal strings (exact, no precision
// loss past 2^53), enums as numbers, zero values present.
const AS_OBJECT = { longs: String, enums: Number, defaults: true, arrays: true };

let root, Heartbeat, FleetStatus, ServiceStatus, EventMsg;
let nc;
const senders = {};
let feed;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const u64 = (s) => BigInt(s); // decimal string -> BigInt

/** A random non-zero 64-bit incarnation with the top bit set, so it needs all 64 bits. */
function randomIncarnation() {
    const b = randomBytes(8);
    b[0] |= 0x80;
    return b.readBigUInt64BE(0);
}

/** One simulated instance: a Heartbeat every HB_INTERVAL_MS, seq rising from 1. */
class HeartbeatSender {
    constructor(instance) {
        this.instance = instance;
        this.subject = `fleet.v1.hb.${SERVICE}.${instance}`;
        this.incarnation = randomIncarnation();
        this.seq = 0n;
        this.timer = null;
        this.sent = 0;
    }

    encode() {
        this.seq += 1n;
        const msg = Heartbeat.fromObject({
            service: SERVICE,
            instance: this.instance,
            incarnation: Long.fromString(this.incarnation.toString(), true),
            seq: Long.fromString(this.seq.toString(), true),
            sent_unix_ms: Long.fromNumber(Date.now()),
            interval_ms: HB_INTERVAL_MS,
            state: ServingState.SERVING,
            version: VERSION,
            host: 'node-interop',
            pid: process.pid,
        });
        return Heartbeat.encode(msg).finish();
    }

    beat() {
        nc.publish(this.subject, this.encode());
        this.sent++;
    }

    start() {
        this.beat();
        this.timer = setInterval(() => this.beat(), HB_INTERVAL_MS);
    }

    stop() {
        if (this.timer) clearInterval(this.timer);
        this.timer = null;
    }
}

/**
 * Decodes every FleetStatus on fleet.v1.status and lets a test wait, with a
 * deadline, for one that satisfies a predicate.  Also checks that feed_seq
 * rises from one FleetStatus to the next.
 */
class FeedWatcher {
    constructor() {
        this.last = null;
        this.count = 0;
        this.decodeErrors = [];
        this.seqErrors = [];
        this.waiters = new Set();
        this.sub = nc.subscribe('fleet.v1.status');
        this.done = this.#loop();
    }

    async #loop() {
        for await (const m of this.sub) {
            let st;
            try {
                st = FleetStatus.toObject(FleetStatus.decode(m.data), AS_OBJECT);
            } catch (e) {
                this.decodeErrors.push(String(e));
                continue;
            }
            if (this.last && u64(st.feed_seq) <= u64(this.last.feed_seq))
                this.seqErrors.push(`feed_seq ${st.feed_seq} after ${this.last.feed_seq}`);
            this.last = st;
            this.count++;
            for (const w of [...this.waiters]) {
                if (w.pred(st)) {
                    this.waiters.delete(w);
                    clearTimeout(w.timer);
                    w.resolve(st);
                }
            }
        }
    }

    /** Resolves with the first FleetStatus (from now on) for which pred is true. */
    waitFor(label, pred, timeoutMs = DEADLINE_MS) {
        return new Promise((resolve, reject) => {
            const w = { pred, resolve };
            w.timer = setTimeout(() => {
                this.waiters.delete(w);
                reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}; ` +
                    `${this.count} FleetStatus decoded, last: ${JSON.stringify(this.last)}`));
            }, timeoutMs);
            this.waiters.add(w);
        });
    }

    /** Resolves after n more FleetStatus messages, returning them. */
    async next(n, timeoutMs = DEADLINE_MS) {
        const got = [];
        await this.waitFor(`${n} more FleetStatus`, (st) => got.push(st) >= n, timeoutMs);
        return got;
    }
}

const svcOf = (st, name = SERVICE) => st.services.find((s) => s.name === name);
const instOf = (svc, name) => svc && svc.instances.find((i) => i.instance === name);

// The steps build on each other: after the first failure the rest are skipped,
// so the report shows the step that broke, not a cascade of timeouts.
let broken = null;
function step(name, fn) {
    it(name, async (t) => {
        if (broken) {
            t.skip(`skipped: "${broken}" failed`);
            return;
        }
        try {
            await fn(t);
        } catch (e) {
            broken = name;
            throw e;
        }
    });
}

function allHealthy(st) {
    const s = svcOf(st);
    return !!s && s.health === ServiceHealth.AVAILABLE && s.healthy === 2 &&
        ['js-1', 'js-2'].every((n) => instOf(s, n)?.health === InstanceHealth.HEALTHY) &&
        st.observer === ObserverState.NORMAL;
}

function checkInstance(inst, sender) {
    assert.ok(inst, `instance ${sender.instance} listed`);
    assert.equal(inst.health, InstanceHealth.HEALTHY);
    // The 64-bit incarnation round-trips exactly (its top bit is set).
    assert.equal(u64(inst.incarnation), sender.incarnation);
    assert.equal(inst.version, VERSION);
    const lastSeen = Number(inst.last_seen_unix_ms);
    assert.ok(Math.abs(Date.now() - lastSeen) < 60000, `last_seen_unix_ms plausible: ${lastSeen}`);
}

describe('fleet-supervisor interop with a Node.js client (nats + protobufjs)', { timeout: 90000 }, () => {
    before(async () => {
        root = new protobuf.Root();
        await root.load(PROTO, { keepCase: true });
        root.resolveAll();
        Heartbeat = root.lookupType('fleet.v1.Heartbeat');
        FleetStatus = root.lookupType('fleet.v1.FleetStatus');
        ServiceStatus = root.lookupType('fleet.v1.ServiceStatus');
        EventMsg = root.lookupType('fleet.v1.Event');
        nc = await connect({ servers: NATS_URL, name: 'fleet-js-interop' });
        feed = new FeedWatcher();
    });

    after(async () => {
        for (const s of Object.values(senders)) s.stop();
        if (nc && !nc.isClosed()) await nc.drain();
        if (feed) await feed.done;
    });

    step('the .proto matches the contract numbers of DESIGN.md §4', () => {
        assert.ok(Long, 'protobufjs has Long support');
        const e = (name) => root.lookupEnum(name).values;
        assert.equal(e('fleet.v1.ServingState').SERVING_STATE_SERVING, ServingState.SERVING);
        assert.equal(e('fleet.v1.ServiceHealth').SERVICE_HEALTH_AVAILABLE, ServiceHealth.AVAILABLE);
        assert.equal(e('fleet.v1.ServiceHealth').SERVICE_HEALTH_DEGRADED, ServiceHealth.DEGRADED);
        assert.equal(e('fleet.v1.InstanceHealth').INSTANCE_HEALTH_HEALTHY, InstanceHealth.HEALTHY);
        assert.equal(e('fleet.v1.InstanceHealth').INSTANCE_HEALTH_SUSPECT, InstanceHealth.SUSPECT);
        assert.equal(e('fleet.v1.InstanceHealth').INSTANCE_HEALTH_DEAD, InstanceHealth.DEAD);
        assert.equal(e('fleet.v1.ObserverState').OBSERVER_STATE_NORMAL, ObserverState.NORMAL);
        assert.equal(Heartbeat.fields.incarnation.id, 3);
        assert.equal(Heartbeat.fields.interval_ms.id, 6);
        assert.equal(FleetStatus.fields.feed_seq.id, 2);
        assert.equal(FleetStatus.fields.supervisor_id.id, 11);
        assert.equal(EventMsg.fields.to.id, 6);
        // Our own Heartbeat round-trips through protobufjs with 64-bit values intact.
        const s = new HeartbeatSender('probe');
        const back = Heartbeat.toObject(Heartbeat.decode(s.encode()), AS_OBJECT);
        assert.equal(u64(back.incarnation), s.incarnation);
        assert.equal(back.seq, '1');
        assert.equal(back.service, SERVICE);
    });

    step('heartbeats from js-1 and js-2 make js-svc AVAILABLE on fleet.v1.status', async () => {
        senders['js-1'] = new HeartbeatSender('js-1');
        senders['js-2'] = new HeartbeatSender('js-2');
        senders['js-1'].start();
        senders['js-2'].start();

        const st = await feed.waitFor('js-svc AVAILABLE, 2 healthy, observer NORMAL', allHealthy);
        const s = svcOf(st);
        assert.equal(s.desired, 2);
        assert.equal(s.expected, true);
        assert.deepEqual(s.versions, [VERSION]);
        checkInstance(instOf(s, 'js-1'), senders['js-1']);
        checkInstance(instOf(s, 'js-2'), senders['js-2']);
        assert.equal(st.services_expected, 1);
        assert.equal(st.services_available, 1);
        assert.equal(st.availability, 1.0);
        assert.equal(st.instances_expected, 2);
        assert.equal(st.instances_healthy, 2);
        assert.ok(st.supervisor_id.length > 0, 'supervisor_id set');
        assert.ok(u64(st.feed_seq) > 0n, 'feed_seq positive');
        const gen = Number(st.generated_unix_ms);
        assert.ok(Math.abs(Date.now() - gen) < 60000, `generated_unix_ms plausible: ${gen}`);
    });

    step('fleet.v1.query.status answers with a FleetStatus', async () => {
        const reply = await nc.request('fleet.v1.query.status', new Uint8Array(0), { timeout: 5000 });
        const st = FleetStatus.toObject(FleetStatus.decode(reply.data), AS_OBJECT);
        assert.ok(st.supervisor_id.length > 0, 'supervisor_id set');
        assert.equal(st.supervisor_id, feed.last.supervisor_id, 'same supervisor as the feed');
        assert.ok(u64(st.feed_seq) > 0n, `feed_seq positive: ${st.feed_seq}`);
        assert.ok(allHealthy(st), `query reply shows js-svc healthy: ${JSON.stringify(st)}`);
    });

    step('fleet.v1.query.service "js-svc" answers with a ServiceStatus', async () => {
        const reply = await nc.request('fleet.v1.query.service', new TextEncoder().encode(SERVICE),
            { timeout: 5000 });
        const s = ServiceStatus.toObject(ServiceStatus.decode(reply.data), AS_OBJECT);
        assert.equal(s.name, SERVICE);
        assert.equal(s.desired, 2);
        assert.equal(s.healthy, 2);
        assert.equal(s.health, ServiceHealth.AVAILABLE);
        assert.equal(s.expected, true);
        assert.deepEqual(s.versions, [VERSION]);
        assert.equal(s.instances.length, 2);
        checkInstance(instOf(s, 'js-1'), senders['js-1']);
        checkInstance(instOf(s, 'js-2'), senders['js-2']);
    });

    step('silencing js-2 yields an Event to DEAD and js-svc DEGRADED', async () => {
        const events = [];
        const sub = nc.subscribe(`fleet.v1.events.${SERVICE}`);
        await nc.flush(); // the subscription is live before js-2 goes quiet
        const dead = (async () => {
            for await (const m of sub) {
                const ev = EventMsg.toObject(EventMsg.decode(m.data), AS_OBJECT);
                events.push(ev);
                if (ev.instance === 'js-2' && ev.to === InstanceHealth.DEAD) return ev;
            }
            return null;
        })();
        const stoppedAt = Date.now();
        senders['js-2'].stop();

        const timer = setTimeout(() => sub.unsubscribe(), DEADLINE_MS);
        const ev = await dead;
        clearTimeout(timer);
        sub.unsubscribe();
        assert.ok(ev, `an Event js-2 -> DEAD within ${DEADLINE_MS} ms; events seen: ${JSON.stringify(events)}`);

        assert.equal(ev.service, SERVICE);
        assert.ok([InstanceHealth.HEALTHY, InstanceHealth.SUSPECT].includes(ev.from),
            `from HEALTHY or SUSPECT, got ${ev.from}`);
        assert.match(ev.feed_seq, /^[1-9][0-9]*$/, 'feed_seq a positive integer');
        const at = Number(ev.unix_ms);
        assert.ok(at >= stoppedAt - 5000 && at <= Date.now() + 5000, `unix_ms plausible: ${at}`);
        // Only js-2 transitions; js-1 stays up.
        for (const e of events)
            assert.notEqual(e.instance, 'js-1', `no event for js-1: ${JSON.stringify(e)}`);

        const st = await feed.waitFor('js-svc DEGRADED with 1 healthy', (x) => {
            const s = svcOf(x);
            return !!s && s.health === ServiceHealth.DEGRADED && s.healthy === 1;
        });
        // The event and the statuses share one sequence: this status came after the event.
        assert.ok(u64(st.feed_seq) > u64(ev.feed_seq), `status ${st.feed_seq} after event ${ev.feed_seq}`);
        const s = svcOf(st);
        assert.equal(instOf(s, 'js-1').health, InstanceHealth.HEALTHY);
        assert.notEqual(instOf(s, 'js-2').health, InstanceHealth.HEALTHY);
        assert.equal(st.services_available, 0);
        assert.equal(st.instances_healthy, 1);
    });

    step('garbage and mismatched heartbeats are dropped; the feed goes on and js-1 stays HEALTHY', async () => {
        const s1 = senders['js-1'];
        // Not protobuf at all (an invalid wire type / truncated varint).
        nc.publish(`fleet.v1.hb.${SERVICE}.js-1`, Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x07]));
        nc.publish(`fleet.v1.hb.${SERVICE}.js-1`, new TextEncoder().encode('not a heartbeat'));
        // A well-formed Heartbeat whose body names another service than its subject,
        // with a new incarnation: accepted, it would count as a restart of js-1.
        const impostor = (service, instance) => Heartbeat.encode(Heartbeat.fromObject({
            service, instance,
            incarnation: Long.fromString('12345678901234567', true),
            seq: 1, sent_unix_ms: Date.now(), interval_ms: HB_INTERVAL_MS,
            state: ServingState.SERVING, version: '6.6.6',
        })).finish();
        nc.publish(`fleet.v1.hb.${SERVICE}.js-1`, impostor('impostor-svc', 'js-1'));
        // And the other way round: a body claiming js-svc/js-1 on another subject.
        nc.publish('fleet.v1.hb.impostor-svc.js-1', impostor(SERVICE, 'js-1'));
        // An instance token with a character NATS allows but the contract does not.
        nc.publish(`fleet.v1.hb.${SERVICE}.bad~name`, impostor(SERVICE, 'bad~name'));
        await nc.flush();

        // The feed keeps coming: several more FleetStatus (status_interval 1 s).
        const more = await feed.next(3);
        for (const st of more) {
            const s = svcOf(st);
            assert.ok(s, 'js-svc still listed');
            const i1 = instOf(s, 'js-1');
            assert.equal(i1.health, InstanceHealth.HEALTHY, `js-1 stays HEALTHY: ${JSON.stringify(i1)}`);
            assert.equal(u64(i1.incarnation), s1.incarnation, 'js-1 incarnation unchanged');
            assert.equal(i1.restarts, 0, 'no restart counted for js-1');
            assert.equal(i1.version, VERSION, 'version not taken from the impostor');
            assert.equal(instOf(s, 'bad~name'), undefined, 'invalid instance name not tracked');
            assert.equal(svcOf(st, 'impostor-svc'), undefined, `mismatched heartbeat not tracked: ${
                JSON.stringify(svcOf(st, 'impostor-svc'))}`);
        }
    });

    step('every feed message decoded, feed_seq rising', () => {
        assert.deepEqual(feed.decodeErrors, []);
        assert.deepEqual(feed.seqErrors, []);
        assert.ok(feed.count >= 3, `FleetStatus messages decoded: ${feed.count}`);
    });
});
