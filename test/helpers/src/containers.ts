export type ContainerRuntimeStatus = { available: true } | { available: false; reason: string };

export interface NatsContainerOptions {
  /** Image to run; default: env `WBX_NATS_IMAGE`, else `nats:2.9.10` (the version the tests target). */
  image?: string;
  /** How long to wait for "Server is ready", in ms; default 120 000 (the module's default). */
  startupTimeout?: number;
}

/** A NATS container with JetStream; the module always sets a user and password. */
export interface StartedNats extends AsyncDisposable {
  /** `nats://<host>:<mapped port>` */
  readonly url: string;
  readonly user: string;
  readonly pass: string;
}

const DEFAULT_IMAGE = 'nats:2.9.10';

/**
 * Whether testcontainers finds a container runtime (Docker, Podman, …) within `timeoutMs`. Never
 * rejects; `reason` says why not. testcontainers is imported only when this is called.
 */
export async function containerRuntimeAvailable(timeoutMs = 5_000): Promise<ContainerRuntimeStatus> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const probe = getContainerRuntimeClient();
    // The probe may settle after the timeout; its rejection must not become unhandled.
    probe.catch(() => undefined);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer from the container runtime within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    await Promise.race([probe, timeout]);
    return { available: true };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a NATS container (`@testcontainers/nats`) with JetStream enabled. */
export async function startNatsContainer(opts: NatsContainerOptions = {}): Promise<StartedNats> {
  const { NatsContainer } = await import('@testcontainers/nats');
  let container = new NatsContainer(
    opts.image ?? process.env['WBX_NATS_IMAGE'] ?? DEFAULT_IMAGE,
  ).withJetStream();
  if (opts.startupTimeout !== undefined) container = container.withStartupTimeout(opts.startupTimeout);
  const started = await container.start();
  const { user, pass } = started.getConnectionOptions();
  return {
    url: `nats://${started.getHost()}:${started.getMappedPort(4222)}`,
    user: user ?? '',
    pass: pass ?? '',
    async [Symbol.asyncDispose]() {
      await started.stop();
    },
  };
}
