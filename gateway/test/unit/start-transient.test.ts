import { JetStreamApiError } from '@nats-io/jetstream';
import { AuthorizationError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/config.js';
import { isTransientNatsError } from '../../src/start/transient.js';
import { NotSettledError } from '../../src/streams.js';

const apiError = (err_code: number, code = 500): JetStreamApiError =>
  new JetStreamApiError({ code, err_code, description: `error ${err_code}` });

describe('isTransientNatsError', () => {
  it('waits on timeouts, no responders, cluster unavailability, create races and unsettled replicas', () => {
    expect(isTransientNatsError(new TimeoutError())).toBe(true);
    expect(isTransientNatsError(new NoRespondersError('$JS.API.INFO'))).toBe(true);
    // nats.js: "jetstream is not enabled", caused by a request nobody answered (no meta leader).
    const noResponders = new RequestError('no responders', { cause: new NoRespondersError('$JS.API.INFO') });
    expect(isTransientNatsError(new Error('jetstream is not enabled', { cause: noResponders }))).toBe(true);
    for (const code of [10_004, 10_005, 10_008, 10_009, 10_013, 10_058, 10_148]) {
      expect(isTransientNatsError(apiError(code)), `code ${code}`).toBe(true);
    }
    expect(isTransientNatsError(new NotSettledError('WBX_EVENTS did not settle on 3 replicas'))).toBe(true);
  });

  it('fails the start on configuration errors and anything else', () => {
    // JetStream off for the account, replicas > 1 on a single server, a stream's subjects overlapping.
    for (const code of [10_039, 10_074, 10_065]) {
      expect(isTransientNatsError(apiError(code, 503)), `code ${code}`).toBe(false);
    }
    expect(isTransientNatsError(new AuthorizationError('Authorization Violation'))).toBe(false);
    expect(isTransientNatsError(new ConfigError([{ path: 'nats.url', message: 'refused' }]))).toBe(false);
    expect(isTransientNatsError(new Error('timeout'))).toBe(false);
    expect(isTransientNatsError('timeout')).toBe(false);
  });
});
