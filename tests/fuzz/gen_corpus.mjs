// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).
// The files are committed; rerun only to change them:
//   node tests/fuzz/gen_corpus.mjs   (needs tests/js/node_modules: npm ci there)
// Envelopes are signed with npm @nats-io/nkeys using the same fixed seed as
// fuzz_envelope.c, so the valid ones pass the signature check and lead the
// fuzzer into the Control checks behind it.
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../js/package.json'));
const protobuf = require('protobufjs');
const nkeys = require('@nats-io/nkeys');

const root = protobuf.loadSync(join(here, '../../proto/fleet/v1/fleet.proto'));
const Heartbeat = root.lookupType('fleet.v1.Heartbeat');
const Control = root.lookupType('fleet.v1.Control');
const Envelope = root.lookupType('fleet.v1.Envelope');

const NOW = 1700000000000;
const seed = 'SUABRNRODRB5HTJGRYADOSEWYWANNB7SXQ6YBUDGZ7KZ5JGEPK7ZSREIV4';
const kp = nkeys.fromSeed(new TextEncoder().encode(seed));

function put(target, name, bytes) {
  const dir = join(here, 'corpus', target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), bytes);
}

// Heartbeats for subject fleet.v1.hb.svc.inst.
const hb = {
  service: 'svc', instance: 'inst', incarnation: 12345, seq: 1, sentUnixMs: NOW,
  intervalMs: 1000, state: 2, version: '1.4.2', host: 'host-1', pid: 4242, termSeen: 3,
};
put('fuzz_heartbeat', 'serving', Heartbeat.encode(Heartbeat.create(hb)).finish());
put('fuzz_heartbeat', 'checks', Heartbeat.encode(Heartbeat.create({
  ...hb, state: 3, checks: [{ name: 'db', ok: false, detail: 'timeout' }, { name: 'disk', ok: true }],
})).finish());
put('fuzz_heartbeat', 'exited', Heartbeat.encode(Heartbeat.create({
  ...hb, state: 7, exit: { code: 1, signal: 9, atUnixMs: NOW - 5 },
})).finish());
put('fuzz_heartbeat', 'mismatch', Heartbeat.encode(Heartbeat.create({ ...hb, instance: 'other' })).finish());

// Envelopes for fuzz_envelope: byte 0 selects the mode (even: raw envelope).
const control = {
  service: 'svc', instance: 'inst', incarnation: 7, action: 2, fenceEpoch: 3, term: 2, seq: 9,
  issuedUnixMs: NOW - 1000, expiresUnixMs: NOW + 60000, nonce: new Uint8Array(16).fill(0x5a),
  reason: 'fuzz',
};
function sealed(c, signer = kp) {
  const payload = Control.encode(Control.create(c)).finish();
  const env = Envelope.create({ payload, signature: signer.sign(payload), signer: signer.getPublicKey() });
  return Envelope.encode(env).finish();
}
const raw = (bytes) => Buffer.concat([Buffer.from([0]), Buffer.from(bytes)]);
put('fuzz_envelope', 'accepted', raw(sealed(control)));
put('fuzz_envelope', 'wrong_target', raw(sealed({ ...control, instance: 'inst-2' })));
put('fuzz_envelope', 'expired', raw(sealed({ ...control, issuedUnixMs: NOW - 9000, expiresUnixMs: NOW - 1 })));
put('fuzz_envelope', 'untrusted', raw(sealed(control, nkeys.createUser())));
// Mutation mode: (offset, xor) pairs over fuzz_envelope.c's own sealed envelope.
put('fuzz_envelope', 'mutate_payload', Buffer.from([1, 10, 0x01]));
put('fuzz_envelope', 'mutate_signer', Buffer.from([1, 200, 0x04, 201, 0x01]));

// fuzz_proof: byte 0 selects the mode. Even: a stranger's heartbeat, with a
// key whose incarnation is right (little-endian SHA-256 prefix, fleet.proto)
// and two made-up entries. Odd: bytes that choose a proven heartbeat's fields.
{
  const { createHash } = await import('node:crypto');
  const key = new Uint8Array(32).map((_, k) => (k * 37 + 11) & 0xff);
  const incarnation = createHash('sha256').update(key).digest().readBigUInt64LE(0);
  const proof = new Uint8Array(80).map((_, k) => (k * 13 + 5) & 0xff);
  put('fuzz_proof', 'stranger', raw(Heartbeat.encode(Heartbeat.create({
    ...hb, incarnation: incarnation.toString(), incarnationKey: key, proof,
    checks: [{ name: 'db', ok: true }], exit: { code: 0, signal: 15, atUnixMs: NOW },
  })).finish()));
  put('fuzz_proof', 'fields', Buffer.concat([Buffer.from([1]), Buffer.from(
    new Uint8Array(160).map((_, k) => (k * 29 + 3) & 0xff))]));
  put('fuzz_proof', 'fields_plain', Buffer.concat([Buffer.from([1]), Buffer.alloc(80, 1)]));
}
