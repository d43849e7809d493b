import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { trackChild } from './internal/exit-cleanup.js';
import { until } from './until.js';

const run = promisify(execFile);

/** The checkout's root (this file is in test/helpers/src or test/helpers/dist). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const IMAGES_FILE = join(ROOT, '.cache', 'image', 'images.json');

/** Whether a container runtime can be used; `reason` says why not. */
export type ContainerRuntimeStatus = { available: true } | { available: false; reason: string };

/** podman's Docker-compatible API, for testcontainers (`DOCKER_HOST`). */
export interface PodmanService extends AsyncDisposable {
  /** `unix:///run/podman/podman.sock` (rootful) or the user's socket (rootless). */
  readonly dockerHost: string;
  /** Whether this call started `podman system service` (disposing then stops it) or found it running. */
  readonly started: boolean;
}

/** The images `pnpm image gateway nats` builds: their references in podman's local storage. */
export interface WbxImages {
  /** `localhost/wbx-gateway:<version>` */
  readonly gateway: string;
  /** `localhost/wbx-test-nats:<nats-server version>` */
  readonly nats: string;
}

const errorText = (e: unknown): string => {
  const stderr = (e as { stderr?: unknown }).stderr;
  if (typeof stderr === 'string' && stderr.trim() !== '') return stderr.trim().split('\n').at(-1) ?? '';
  return e instanceof Error ? e.message : String(e);
};

/** Whether `podman` is installed and answers `podman info`; `reason` says why not. Never rejects. */
export async function podmanAvailable(): Promise<ContainerRuntimeStatus> {
  try {
    await run('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], { timeout: 30_000 });
    return { available: true };
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    return {
      available: false,
      reason: missing
        ? 'podman is not installed (./scripts/setup.sh installs it)'
        : `podman info: ${errorText(e)}`,
    };
  }
}

function socketPath(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/podman/podman.sock';
  return join(process.env['XDG_RUNTIME_DIR'] ?? `/run/user/${uid}`, 'podman', 'podman.sock');
}

/** Whether the Docker-compatible API answers `GET /_ping` on `socket`. */
function answers(socket: string): Promise<boolean> {
  return new Promise((done) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
    req.end();
  });
}

/**
 * podman's Docker-compatible API socket: the one already serving, else `podman system service --time=0`
 * started here and stopped on dispose.
 */
export async function startPodmanService(): Promise<PodmanService> {
  const socket = socketPath();
  const dockerHost = `unix://${socket}`;
  if (await answers(socket)) {
    return { dockerHost, started: false, [Symbol.asyncDispose]: () => Promise.resolve() };
  }
  await mkdir(dirname(socket), { recursive: true });
  await rm(socket, { force: true }); // a socket file left by a service that is gone
  const child = spawn('podman', ['system', 'service', '--time=0', dockerHost], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  trackChild(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  await until(
    `podman system service on ${socket}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`podman system service exited: ${stderr.trim()}`);
      return answers(socket);
    },
    30_000,
    100,
  );
  return {
    dockerHost,
    started: true,
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The newest modification time of the files under `paths` (0 when none exists). */
function newest(paths: readonly string[]): number {
  let time = 0;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      const entries = readdirSync(path).map((name) => join(path, name));
      time = Math.max(time, newest(entries));
    } else {
      time = Math.max(time, stat.mtimeMs);
    }
  }
  return time;
}

/** What the images are built from: the workspace's build output, the Containerfiles, the build script. */
function imageInputs(): string[] {
  const services = readdirSync(join(ROOT, 'services')).map((name) => join(ROOT, 'services', name, 'dist'));
  return [
    ...['cli', 'gateway', 'proto'].map((pkg) => join(ROOT, pkg, 'dist')),
    ...services,
    join(ROOT, 'deploy', 'image'),
    join(ROOT, 'scripts', 'image.mjs'),
    join(ROOT, 'pnpm-lock.yaml'),
  ];
}

interface BuiltImage {
  readonly ref: string;
  readonly archive: string;
}

function builtImages(): Partial<Record<keyof WbxImages, BuiltImage>> {
  if (!existsSync(IMAGES_FILE)) return {};
  return JSON.parse(readFileSync(IMAGES_FILE, 'utf8')) as Partial<Record<keyof WbxImages, BuiltImage>>;
}

/**
 * The gateway and test NATS images in podman's storage: built with `scripts/image.mjs` (from the
 * current build output, which the caller has built) when an OCI archive is missing or older than what it
 * is built from, and loaded from the archive when podman does not have the image.
 */
export async function wbxImages(): Promise<WbxImages> {
  const inputs = newest(imageInputs());
  const current = (image: BuiltImage | undefined): image is BuiltImage =>
    image !== undefined && existsSync(image.archive) && statSync(image.archive).mtimeMs >= inputs;
  let built = builtImages();
  if (!current(built.gateway) || !current(built.nats)) {
    try {
      await run(process.execPath, [join(ROOT, 'scripts', 'image.mjs'), '--no-build', 'gateway', 'nats'], {
        cwd: ROOT,
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (e) {
      throw new Error(`scripts/image.mjs failed: ${errorText(e)}`, { cause: e });
    }
    built = builtImages();
  }
  const { gateway, nats } = built;
  if (gateway === undefined || nats === undefined) throw new Error(`${IMAGES_FILE} lists no images`);
  for (const image of [gateway, nats]) {
    try {
      await run('podman', ['image', 'exists', image.ref]);
    } catch {
      await run('podman', ['load', '--quiet', '--input', image.archive]);
    }
  }
  return { gateway: gateway.ref, nats: nats.ref };
}
