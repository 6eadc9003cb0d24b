// A client written from the contract alone, on a NATS cluster of three
// (DESIGN.md §3, §4, §8): heartbeats published through one node, carrying
// the server they come through (Heartbeat field 15), reach a supervisor
// given the comma-separated list; the feed read through another node shows
// the instance HEALTHY with a term; and the supervisor's state is
// replicated three times (JetStream stream info, read with the npm `nats`
// client's JetStream manager).
//
// Run by cluster.sh (ctest integration.js_cluster), which starts the
// cluster (fleet-test-cluster) and the supervisor, and exports NATS_NODES
// (the node URLs, comma-separated).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { connect } from 'nats';
import protobuf from 'protobufjs';

const NODES = (process.env.NATS_NODES || '').split(',');
const PROTO = fileURLToPath(new URL('../../proto/fleet/v1/fleet.proto', import.meta.url));
const SERVICE = 'js-cluster';
const INSTANCE = 'js-1';
const INTERVAL_MS = 200;
const DEADLINE_MS = 20000;
const InstanceHealth = { HEALTHY: 2 };     // numbers from DESIGN.md §4
const ObserverState = { NORMAL: 2 };
const AS_OBJECT = { longs: String, enums: Number, defaults: true, arrays: true };

let Heartbeat, FleetStatus, sender, reader, timer;

describe('a contract-only client on a three-node cluster', { timeout: 60000 }, () => {
    before(async () => {
        assert.equal(NODES.length, 3, 'NATS_NODES lists three nodes');
        const root = new protobuf.Root();
        await root.load(PROTO, { keepCase: true });
        root.resolveAll();
        Heartbeat = root.lookupType('fleet.v1.Heartbeat');
        FleetStatus = root.lookupType('fleet.v1.FleetStatus');
        sender = await connect({ servers: NODES[2], name: 'js-cluster-sender' });
        reader = await connect({ servers: NODES[1], name: 'js-cluster-reader' });
        let seq = 0;
        const beat = () => {
            seq++;
            const hb = Heartbeat.fromObject({
                service: SERVICE, instance: INSTANCE, incarnation: 42, seq,
                sent_unix_ms: Date.now(), interval_ms: INTERVAL_MS, state: 2 /* SERVING */,
                version: '1.0.0', nats_server: sender.info.server_id,
            });
            sender.publish(`fleet.v1.hb.${SERVICE}.${INSTANCE}`, Heartbeat.encode(hb).finish());
        };
        beat();
        timer = setInterval(beat, INTERVAL_MS);
    });

    after(async () => {
        clearInterval(timer);
        await sender?.drain();
        await reader?.drain();
    });

    it('the feed, read through another node, shows the instance HEALTHY under a leader', async () => {
        const sub = reader.subscribe('fleet.v1.status');
        const deadline = setTimeout(() => sub.unsubscribe(), DEADLINE_MS);
        let seen = null;
        for await (const m of sub) {
            const st = FleetStatus.toObject(FleetStatus.decode(m.data), AS_OBJECT);
            const inst = st.services.find((s) => s.name === SERVICE)?.instances.find((i) => i.instance === INSTANCE);
            seen = st;
            if (inst?.health === InstanceHealth.HEALTHY && st.observer === ObserverState.NORMAL && BigInt(st.term) > 0n)
                break;
        }
        clearTimeout(deadline);
        const inst = seen?.services.find((s) => s.name === SERVICE)?.instances.find((i) => i.instance === INSTANCE);
        assert.equal(inst?.health, InstanceHealth.HEALTHY, `last status: ${JSON.stringify(seen)}`);
        assert.ok(BigInt(seen.term) > 0n, 'a leader publishes the feed');
    });

    it('the state bucket, the lease bucket and the audit stream have three replicas', async () => {
        const jsm = await reader.jetstreamManager();
        for (const stream of ['KV_fleet_state', 'KV_fleet_leader', 'FLEET_AUDIT']) {
            const si = await jsm.streams.info(stream);
            assert.equal(si.config.num_replicas, 3, `${stream} replicas`);
        }
    });
});
