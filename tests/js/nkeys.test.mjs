// nkey interop with the NATS ecosystem: keys made by `fleetctl keygen` and
// envelopes sealed by our C library must mean the same thing to npm
// @nats-io/nkeys, and Controls signed by nkeys must pass our C verifier.
// Run by nkeys.sh (ctest integration.js_nkeys); needs FLEET_BIN_DIR and
// FLEET_SEAL_ENVELOPE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const nkeys = require('@nats-io/nkeys');
const protobuf = require('protobufjs');

const here = dirname(fileURLToPath(import.meta.url));
const root = protobuf.loadSync(join(here, '../../proto/fleet/v1/fleet.proto'));
const Control = root.lookupType('fleet.v1.Control');
const Envelope = root.lookupType('fleet.v1.Envelope');

const fleetctl = join(process.env.FLEET_BIN_DIR ?? '', 'ctl', 'fleetctl');
const helper = process.env.FLEET_SEAL_ENVELOPE;
const enc = new TextEncoder();

function tmp() {
  return mkdtempSync(join(tmpdir(), 'fleet-nkeys-'));
}

// fleetctl keygen into a fresh directory: { dir, seedFile, seed, publicKey }.
function keygen() {
  const dir = tmp();
  const seedFile = join(dir, 'control.nk');
  const publicKey = execFileSync(fleetctl, ['keygen', '--out', seedFile], { encoding: 'utf8' });
  return { dir, seedFile, seed: readFileSync(seedFile, 'utf8').trim(), publicKey };
}

// Runs the helper's --verify mode on an Envelope's bytes; returns its verdict.
function cVerify(envelopeBytes, publicKey, incarnation = '7', service = 'svc', instance = 'inst') {
  const r = spawnSync(helper, ['--verify', publicKey, service, instance, incarnation], {
    input: Buffer.from(envelopeBytes).toString('hex') + '\n',
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `fleet_seal_envelope --verify failed: ${r.stderr}`);
  return r.stdout.trim();
}

// A Control as JS would send it, signed with nkeys and wrapped in an Envelope.
function jsSealed(kp, overrides = {}) {
  const now = Date.now();
  const payload = Control.encode(Control.create({
    service: 'svc', instance: 'inst', incarnation: 7, action: 1 /* RESTART */, term: 1, seq: 1,
    issuedUnixMs: now, expiresUnixMs: now + 60000, nonce: randomBytes(16), reason: 'signed in js',
    ...overrides,
  })).finish();
  const signature = kp.sign(payload);
  return Envelope.encode(Envelope.create({ payload, signature, signer: kp.getPublicKey() })).finish();
}

test('fleetctl keygen: nkeys derives the printed public key from the seed file', () => {
  const k = keygen();
  try {
    assert.match(k.publicKey, /^U[A-Z2-7]{55}\n$/);
    assert.match(k.seed, /^SU[A-Z2-7]{56}$/);
    assert.equal(statSync(k.seedFile).mode & 0o777, 0o600);
    const kp = nkeys.fromSeed(enc.encode(k.seed));
    assert.equal(kp.getPublicKey(), k.publicKey.trim());
    // And the public key text itself parses as a NATS user key.
    assert.equal(nkeys.fromPublic(k.publicKey.trim()).getPublicKey(), k.publicKey.trim());
  } finally {
    rmSync(k.dir, { recursive: true, force: true });
  }
});

test('an envelope sealed in C verifies with nkeys', () => {
  const k = keygen();
  try {
    const hex = execFileSync(helper, [k.seedFile], { encoding: 'utf8' }).trim();
    const env = Envelope.decode(Buffer.from(hex, 'hex'));
    assert.equal(env.signer, k.publicKey.trim());
    assert.equal(env.signature.length, 64);
    const pub = nkeys.fromPublic(env.signer);
    assert.equal(pub.verify(env.payload, env.signature), true);
    const c = Control.decode(env.payload);
    assert.equal(c.service, 'svc');
    assert.equal(c.instance, 'inst');
    assert.equal(Number(c.incarnation), 7);
    assert.equal(c.action, 1);
    assert.equal(c.nonce.length, 16);
    // A flipped payload bit does not verify.
    const bad = Buffer.from(env.payload);
    bad[bad.length - 1] ^= 1;
    assert.equal(pub.verify(bad, env.signature), false);
    // Our own verifier agrees on the untouched envelope.
    assert.equal(cVerify(Buffer.from(hex, 'hex'), env.signer), 'accepted');
  } finally {
    rmSync(k.dir, { recursive: true, force: true });
  }
});

test('a Control signed with nkeys is accepted by the C verifier', () => {
  const kp = nkeys.createUser();
  const pub = kp.getPublicKey();
  assert.equal(cVerify(jsSealed(kp), pub), 'accepted');
  // The same key from a fleetctl keygen seed works as well.
  const k = keygen();
  try {
    const kk = nkeys.fromSeed(enc.encode(k.seed));
    assert.equal(cVerify(jsSealed(kk), k.publicKey.trim()), 'accepted');
  } finally {
    rmSync(k.dir, { recursive: true, force: true });
  }
});

test('the C verifier refuses JS-signed Controls for the right reasons', () => {
  const kp = nkeys.createUser();
  const pub = kp.getPublicKey();
  const other = nkeys.createUser();
  assert.equal(cVerify(jsSealed(kp), pub, '8'), 'wrong_incarnation');
  assert.equal(cVerify(jsSealed(kp, { instance: 'inst-2' }), pub), 'wrong_target');
  assert.equal(cVerify(jsSealed(other), pub), 'untrusted_signer');
  const now = Date.now();
  assert.equal(cVerify(jsSealed(kp, { issuedUnixMs: now - 5000, expiresUnixMs: now - 1000 }), pub), 'expired');
  assert.equal(cVerify(jsSealed(kp, { issuedUnixMs: now + 120000, expiresUnixMs: now + 180000 }), pub),
               'from_future');
  // Tamper with the payload after signing.
  const env = Envelope.decode(jsSealed(kp));
  env.payload = Buffer.from(env.payload);
  env.payload[env.payload.length - 1] ^= 1;
  assert.equal(cVerify(Envelope.encode(env).finish(), pub), 'bad_signature');
});
