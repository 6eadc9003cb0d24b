// The wire contract for the JavaScript tests: message types loaded by
// protobufjs from proto/fleet/v1/fleet.proto at run time (nothing
// generated), field names as the proto writes them (keepCase).
import { fileURLToPath } from 'node:url';

import protobuf from 'protobufjs';

export const PROTO = fileURLToPath(new URL('../../proto/fleet/v1/fleet.proto', import.meta.url));

/** { Name: Type } for each fleet.v1 message named, e.g. contractTypes('Envelope', 'Event'). */
export async function contractTypes(...names) {
    const root = new protobuf.Root();
    await root.load(PROTO, { keepCase: true });
    root.resolveAll();
    return Object.fromEntries(names.map((n) => [n, root.lookupType(`fleet.v1.${n}`)]));
}
