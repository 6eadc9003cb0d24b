// A hostile answerer of $SRV.PING.<name>: anyone allowed to subscribe to a
// micro service's ping subject can answer for it. To every ping it sends
// garbage, an answer for another service, ids that are no instance name,
// an oversize answer, a wrong type, and a flood of FLOOD fresh valid ids
// (new ones every ping), then prints the ping count. Usage:
//   node micro_hostile.mjs NATS_URL NAME FLOOD
import { connect } from 'nats';

const [url, name, floodText] = process.argv.slice(2);
const flood = Number(floodText);
const nc = await connect({ servers: url, name: 'micro-hostile' });
const enc = new TextEncoder();
const answer = (fields) => enc.encode(JSON.stringify({ type: 'io.nats.micro.v1.ping_response', name, version: '6.6.6', ...fields }));
let round = 0;

const sub = nc.subscribe(`$SRV.PING.${name}`);
console.log('READY');
for await (const m of sub) {
    round++;
    m.respond(enc.encode('{"type": "io.nats.micro.v1.ping_response", "name": '));    // bad JSON
    m.respond(enc.encode('\u0000\u0001binary'));                                     // bad JSON
    m.respond(answer({ name: 'someone-else', id: `other${round}` }));                // wrong name
    m.respond(answer({ id: 'has.dots' }));                                           // bad id
    m.respond(answer({ id: 'x'.repeat(65) }));                                       // bad id (too long)
    m.respond(answer({ id: '' }));                                                   // bad id (empty)
    m.respond(answer({ id: 'spaces here' }));                                        // bad id
    m.respond(answer({ id: 'big', metadata: { pad: 'p'.repeat(5000) } }));           // oversize
    m.respond(enc.encode(JSON.stringify({ type: 'io.nats.micro.v1.info_response', name, id: 'info' }))); // type
    m.respond(answer({ id: 'ver', version: 'v\n1' }));                               // bad version
    for (let k = 0; k < flood; k++)
        m.respond(answer({ id: `flood-${round}-${k}` }));                            // a flood of ids
    if (round % 10 === 0)
        console.log(`PINGS ${round}`);
}
