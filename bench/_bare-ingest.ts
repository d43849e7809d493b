// The ingest benchmark's bare gRPC baseline: a grpc-js server with the same wbx.v1.Ingest service and
// messages as the gateway, on loopback plaintext, that answers each submitted Event at once with a
// receipt and does nothing else (no validation, no seal, no NATS). Prints `{"grpc":"host:port"}` when
// listening; runs until SIGTERM. Its CPU per event and the client's are the floor gRPC itself puts under
// the gateway's SubmitStream.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { IngestService, type IngestServer } from '@wbx/proto';

let seq = 0;
const service: IngestServer = {
  submit(call, callback) {
    callback(null, { eventId: call.request.eventId, seq: ++seq, duplicate: false });
  },
  submitStream(call) {
    let index = 0;
    call.on('data', (event: { eventId: string }) => {
      call.write({
        index: index++,
        eventId: event.eventId,
        receipt: { eventId: event.eventId, seq: ++seq, duplicate: false },
      });
    });
    call.on('end', () => call.end());
  },
};
const server = new Server();
server.addService(IngestService, service);
const port = await new Promise<number>((resolve, reject) => {
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p)));
});
process.stdout.write(`${JSON.stringify({ grpc: `127.0.0.1:${port}` })}\n`);
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
