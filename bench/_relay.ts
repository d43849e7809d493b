// A bare relay for the e2e benchmark's raw chain: consumes a durable pull consumer on one nats-server and
// republishes each message's bytes, acknowledged, to another stream (the same or another nats-server),
// then acknowledges the original: the hops an event takes between gateways, without any gateway work.
// node bench/_relay.ts <in-url> <in-stream> <consumer> <out-url> <out-subject>
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const args = process.argv.slice(2);
const [inUrl, inStream, consumerName, outUrl, outSubject] = args as [string, string, string, string, string];
if (args.length !== 5)
  throw new Error('usage: _relay.ts <in-url> <in-stream> <consumer> <out-url> <out-subject>');
const inNc = await connect({ servers: inUrl, noAsyncTraces: true });
const outNc = outUrl === inUrl ? inNc : await connect({ servers: outUrl, noAsyncTraces: true });
const out = jetstream(outNc);
const messages = await (
  await jetstream(inNc).consumers.get(inStream, consumerName)
).consume({ max_messages: 256 });
process.once('SIGTERM', () => void messages.close());
process.stdout.write('ready\n');
for await (const m of messages) {
  const msgID = m.headers?.get('Nats-Msg-Id') ?? '';
  out.publish(outSubject, m.data, { msgID }).then(
    () => m.ack(),
    () => m.nak(),
  );
}
await inNc.drain();
if (outNc !== inNc) await outNc.drain();
