// `pnpm image [gateway] [nats] [--no-build] [--context-only]`: builds the container images offline, FROM scratch, with
// Debian's podman (or buildah) and no registry. For each image it assembles a root filesystem in
// .cache/image/<name>/rootfs — the program, the shared libraries `ldd` lists for it, /etc/passwd and
// /etc/group with the non-root user wbx (65532) — builds deploy/image/<Containerfile> on it, tags
// localhost/<image>:<version> and writes .cache/image/<image>.oci.tar (an OCI archive).
//   gateway  wbx-gateway: Node 24 running `wbx` (the default target), `pnpm deploy --prod` of @wbx/cli
//   nats     wbx-test-nats: Debian's nats-server, for the container test only
// .cache/image/images.json lists what was built (reference, archive, image id), for the container test.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, '.cache', 'image');
const UID = 65532;

const args = process.argv.slice(2);
const build = !args.includes('--no-build') && process.env['WBX_SKIP_BUILD'] !== '1';
// --context-only: assemble the build contexts and stop (for a pipeline that builds with docker or kaniko).
const contextOnly = args.includes('--context-only');
const targets = args.filter((a) => !a.startsWith('--'));
for (const t of targets) {
  if (t !== 'gateway' && t !== 'nats') {
    console.error('usage: pnpm image [gateway] [nats] [--no-build] [--context-only]');
    process.exit(2);
  }
}
if (targets.length === 0) targets.push('gateway');

const say = (line) => console.error(`wbx image: ${line}`);
const fail = (line) => {
  say(line);
  process.exit(1);
};

/** Runs a command, output shown; exits on failure. */
function run(cmd, cmdArgs, opts = {}) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error !== undefined) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${cmdArgs.join(' ')} exited with ${r.status ?? r.signal}`);
}

/** A command's stdout, trimmed; undefined when it fails. */
function capture(cmd, cmdArgs) {
  try {
    return execFileSync(cmd, cmdArgs, {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch {
    return undefined;
  }
}

const which = (name) => capture('sh', ['-c', `command -v ${name}`]);

/** podman, else buildah (`bud`): both build FROM scratch with no daemon and no registry. */
function builder() {
  const wanted = process.env['WBX_IMAGE_BUILDER'];
  for (const name of wanted === undefined ? ['podman', 'buildah'] : [wanted]) {
    if (which(name) !== undefined) return name;
  }
  return fail(
    'neither podman nor buildah found: ./scripts/setup.sh installs them (apt-get install podman buildah runc)',
  );
}

/** Copies a file, following symbolic links, with its mode. */
function copyFile(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  const real = realpathSync(from);
  copyFileSync(real, to);
  chmodSync(to, statSync(real).mode & 0o7777);
}

/** The shared libraries a program loads, as `ldd` resolves them (the loader included); none if static. */
function sharedLibraries(program) {
  const r = spawnSync('ldd', [program], { encoding: 'utf8' });
  if (r.status !== 0) return []; // "not a dynamic executable"
  const libs = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1] !== undefined) libs.push(m[1]);
  }
  return libs;
}

/** A fresh build context: rootfs/ with the program and its libraries, the user, and an empty data/. */
function context(name, program, at) {
  const dir = join(out, name);
  rmSync(dir, { recursive: true, force: true });
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(dir, 'data'), { recursive: true });
  copyFile(program, join(rootfs, at));
  for (const lib of sharedLibraries(program)) copyFile(lib, join(rootfs, lib));
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  writeFileSync(
    join(rootfs, 'etc', 'passwd'),
    `root:x:0:0:root:/root:/sbin/nologin\nwbx:x:${UID}:${UID}:wbx:/var/lib/wbx:/sbin/nologin\n`,
  );
  writeFileSync(join(rootfs, 'etc', 'group'), `root:x:0:\nwbx:x:${UID}:\n`);
  writeFileSync(join(rootfs, 'etc', 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  mkdirSync(join(rootfs, 'tmp'), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  const cas = '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(cas)) copyFile(cas, join(rootfs, cas));
  else say(`no ${cas} on this machine: the image has no CA bundle`);
  return { dir, rootfs };
}

/** The last commit's time (s), or SOURCE_DATE_EPOCH: file dates, the image's date and its created label,
 * so that the same tree gives the same image. */
const commitTime = Number(
  process.env['SOURCE_DATE_EPOCH'] ?? capture('git', ['log', '-1', '--format=%ct']) ?? '0',
);

function gitRevision() {
  const rev = capture('git', ['rev-parse', 'HEAD']) ?? 'unknown';
  const dirty = capture('git', ['status', '--porcelain', '--untracked-files=no']);
  return dirty === undefined || dirty === '' ? rev : `${rev}-dirty`;
}

/** Builds a context with a Containerfile, tags it and saves it as an OCI archive. */
function buildImage(tool, { image, version, dir, containerfile, buildArgs }) {
  const ref = `localhost/${image}:${version}`;
  const archive = join(out, `${image}.oci.tar`);
  if (tool === undefined) {
    const flags = Object.entries(buildArgs).map(([k, v]) => `--build-arg ${k}=${v}`);
    say(`context ${dir}: build with -f deploy/image/${containerfile} ${flags.join(' ')} -t ${ref}`);
    return { ref, context: dir };
  }
  const previous = capture(tool, ['image', 'inspect', '--format', '{{.Id}}', ref]);
  const argv = [
    ...(tool === 'buildah' ? ['bud'] : ['build']),
    '--file',
    join(root, 'deploy', 'image', containerfile),
    '--tag',
    ref,
    '--format',
    'oci',
    '--pull=never',
    '--layers=false',
    '--timestamp',
    String(commitTime),
    ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    dir,
  ];
  say(`${tool} ${argv.slice(0, 1).join(' ')} ${ref}`);
  run(tool, argv);
  const id = capture(tool, ['image', 'inspect', '--format', '{{.Id}}', ref]);
  if (id === undefined) fail(`${ref} was not built`);
  if (previous !== undefined && previous !== id) capture(tool, ['rmi', previous]); // the untagged old one
  rmSync(archive, { force: true });
  if (tool === 'buildah') run(tool, ['push', '--quiet', ref, `oci-archive:${archive}:${ref}`]);
  else run(tool, ['save', '--quiet', '--format', 'oci-archive', '--output', archive, ref]);
  say(`${ref} (${id.slice(0, 12)}) → ${archive} (${(statSync(archive).size / 1e6).toFixed(1)} MB)`);
  return { ref, archive, id };
}

function gatewayImage(tool) {
  const [major] = process.versions.node.split('.');
  if (Number(major) < 24) fail(`Node ${process.version} runs this script: the image needs Node 24`);
  if (build) run('pnpm', ['-s', 'build']);
  if (!existsSync(join(root, 'cli', 'dist', 'bin', 'wbx.js'))) fail('cli/dist is missing: run pnpm build');
  const { dir, rootfs } = context('gateway', process.execPath, '/usr/local/bin/node');
  // The CLI and its production dependencies (the workspace packages' dist/ included), as in a registry
  // install; offline when the pnpm store already holds them.
  run('pnpm', ['--filter', '@wbx/cli', 'deploy', '--prod', '--prefer-offline', join(rootfs, 'app')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // pnpm's own records of the install, with the time it was made: not read at run time.
  for (const f of ['.modules.yaml', '.pnpm-workspace-state-v1.json']) {
    rmSync(join(rootfs, 'app', 'node_modules', f), { force: true });
  }
  mkdirSync(join(rootfs, 'etc', 'wbx'), { recursive: true });
  const version = JSON.parse(readFileSync(join(root, 'cli', 'package.json'), 'utf8')).version;
  return buildImage(tool, {
    image: 'wbx-gateway',
    version,
    dir,
    containerfile: 'Containerfile',
    buildArgs: {
      VERSION: version,
      REVISION: gitRevision(),
      CREATED: new Date(commitTime * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      SOURCE: process.env['WBX_IMAGE_SOURCE'] ?? capture('git', ['remote', 'get-url', 'origin']) ?? '',
    },
  });
}

function natsImage(tool) {
  const binary = which('nats-server');
  if (binary === undefined) fail('nats-server not found: ./scripts/setup.sh installs it');
  const version = /v?(\d+\.\d+\.\d+)/.exec(capture(binary, ['--version']) ?? '')?.[1];
  if (version === undefined) fail(`${binary} --version: no version`);
  const { dir } = context('nats', binary, '/usr/sbin/nats-server');
  return buildImage(tool, {
    image: 'wbx-test-nats',
    version,
    dir,
    containerfile: 'nats.Containerfile',
    buildArgs: { VERSION: version },
  });
}

const tool = contextOnly ? undefined : builder();
const started = Date.now();
const listFile = join(out, 'images.json');
const built = existsSync(listFile) ? JSON.parse(readFileSync(listFile, 'utf8')) : {};
mkdirSync(out, { recursive: true });
for (const target of targets) {
  built[target] = target === 'gateway' ? gatewayImage(tool) : natsImage(tool);
  if (!contextOnly) writeFileSync(listFile, `${JSON.stringify(built, null, 2)}\n`);
}
say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
