import { EmbeddedNatsError } from '@wbx/gateway';
import { ConfigError, loadGatewayConfig } from '@wbx/gateway';
import { Gateway } from '@wbx/gateway';
import { CliError } from './errors.js';
import { write, type CliIo } from './io.js';

export interface GatewayCommandOptions {
  config?: string;
  partner?: string;
  key?: string;
  manifest?: string;
  data?: string;
  nats?: string;
  grpcListen?: string;
  httpListen?: string;
  insecure?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

/** Command-line flags as configuration paths; they override the file and the environment. */
function overrides(o: GatewayCommandOptions): Record<string, unknown> {
  return {
    partner: o.partner,
    key: o.key,
    manifest: o.manifest,
    data: o.data,
    'nats.url': o.nats,
    'grpc.listen': o.grpcListen,
    'grpc.insecure': o.insecure,
    'grpc.tls.cert': o.tlsCert,
    'grpc.tls.key': o.tlsKey,
    'grpc.tls.clientCa': o.tlsClientCa,
    'http.listen': o.httpListen,
  };
}

/**
 * `wbx gateway`: runs the partner's node until SIGTERM or SIGINT, then drains and exits 0. When ready it
 * prints one JSON line on stdout: {"ready":true,"partner":…,"grpc":…,"http":…,"nats":…}.
 */
export async function gatewayCommand(io: CliIo, options: GatewayCommandOptions): Promise<number> {
  let gateway: Gateway;
  try {
    const config = await loadGatewayConfig(options.config, io.env ?? process.env, overrides(options));
    gateway = await Gateway.start(config);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof EmbeddedNatsError) throw new CliError(e, e.message);
    throw e;
  }
  await write(io.stdout, `${gateway.readyLine()}\n`);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  gateway.log.info({ signal }, 'stopping');
  await gateway.stop();
  return 0;
}
