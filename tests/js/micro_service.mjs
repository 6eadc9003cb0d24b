// A NATS micro service written the way any nats.js user writes one
// (npm nats 2.29: nc.services.add), knowing nothing of the fleet: it is
// what `probe: micro` supervises with no code change. Usage:
//   node micro_service.mjs NATS_URL NAME VERSION
// Prints "READY <id>" once the service answers $SRV.PING, then runs until
// killed.
import { connect } from 'nats';

const [url, name, version] = process.argv.slice(2);
if (!url || !name || !version) {
    console.error('usage: node micro_service.mjs NATS_URL NAME VERSION');
    process.exit(2);
}
const nc = await connect({ servers: url, name: `micro-${name}` });
const srv = await nc.services.add({ name, version, description: `a ${name} service`, metadata: { lang: 'js' } });
srv.addEndpoint('echo', { handler: (err, msg) => { if (!err) msg.respond(msg.data); } });
await nc.flush();
console.log(`READY ${srv.info().id}`);
await srv.stopped;
