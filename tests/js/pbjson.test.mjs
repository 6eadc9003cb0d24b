// Our canonical JSON (supervisor/daemon/pbjson.c) against protobufjs, which
// knows nothing of the C side: pbjson_fixture prints each message's protobuf
// bytes and our JSON of it; protobufjs decodes the bytes with fleet.proto and
// renders them with toObject (64-bit as strings, enum names, bytes as base64,
// defaults, NaN/Infinity as strings); the two must be equal once protobufjs's
// keys are renamed to proto3 json names (protobufjs keeps "availability_1h",
// the mapping says "availability1h").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import protobuf from 'protobufjs';

const PROTO = fileURLToPath(new URL('../../proto/fleet/v1/fleet.proto', import.meta.url));
const FIXTURE = process.env.FLEET_PBJSON_FIXTURE;
const AS_JSON = { longs: String, enums: String, bytes: String, defaults: true, arrays: true, json: true };

// protoc's json_name: each '_' dropped, the next character upper-cased.
const jsonName = (name) => name.replace(/_+(.?)/g, (_, c) => c.toUpperCase());

// protobufjs's object (keepCase: proto names) with every key renamed,
// nested messages included.
function canonical(type, obj) {
  if (obj === null) return null;
  const out = {};
  for (const field of type.fieldsArray) {
    let v = obj[field.name];
    field.resolve();
    if (field.resolvedType instanceof protobuf.Type)
      v = field.repeated ? v.map((x) => canonical(field.resolvedType, x)) : canonical(field.resolvedType, v);
    out[jsonName(field.name)] = v;
  }
  return out;
}

describe('pbjson matches protobufjs', () => {
  const root = new protobuf.Root().loadSync(PROTO, { keepCase: true });
  const lines = execFileSync(FIXTURE, { encoding: 'utf8' }).trim().split('\n');

  it('has every message of the fixture', () => assert.equal(lines.length, 6));
  for (const [k, line] of lines.entries()) {
    const [name, hex, ...rest] = line.split(' ');
    it(`${name} #${k}`, () => {
      const type = root.lookupType(`fleet.v1.${name}`);
      const ours = JSON.parse(rest.join(' '));
      const theirs = canonical(type, type.toObject(type.decode(Buffer.from(hex, 'hex')), AS_JSON));
      assert.deepStrictEqual(ours, theirs);
      // And back: protobufjs takes our values (under its names) as the same message.
      const back = type.encode(type.fromObject(type.toObject(type.decode(Buffer.from(hex, 'hex'))))).finish();
      assert.equal(Buffer.from(back).toString('hex'), hex);
    });
  }
});
