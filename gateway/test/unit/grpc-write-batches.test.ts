import {
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ClientDuplexStream,
  type ServerDuplexStream,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { writeInBatches } from '../../src/grpc-server.js';

const bytes = {
  requestStream: true,
  responseStream: true,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const service: ServiceDefinition = { echo: { path: '/test.Echo/Echo', ...bytes } };

describe('writeInBatches', () => {
  it("gives grpc-js's server stream a _writev and keeps every message, in order", async () => {
    const server = new Server();
    let batched = false;
    server.addService(service, {
      echo: (call: ServerDuplexStream<Buffer, Buffer>) => {
        writeInBatches(call);
        batched = typeof (call as unknown as { _writev?: unknown })._writev === 'function';
        call.on('data', (b: Buffer) => {
          // Written in bursts, so that most go out through _writev.
          for (let i = 0; i < 50; i++) call.write(Buffer.from(`${b.toString()}.${String(i)}`));
        });
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const Client = makeGenericClientConstructor(service, 'Echo');
    const client = new Client(`127.0.0.1:${String(port)}`, credentials.createInsecure()) as unknown as {
      echo(): ClientDuplexStream<Buffer, Buffer>;
      close(): void;
    };
    try {
      const call = client.echo();
      const got: string[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        call.on('data', (b: Buffer) => got.push(b.toString()));
        call.on('end', resolve);
        call.on('error', reject);
      });
      for (let r = 0; r < 20; r++) call.write(Buffer.from(String(r)));
      call.end();
      await ended;
      expect(batched).toBe(true);
      expect(got).toEqual(
        Array.from({ length: 20 }, (_, r) => Array.from({ length: 50 }, (_, i) => `${r}.${i}`)).flat(),
      );
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
