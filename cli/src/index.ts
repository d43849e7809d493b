export { runCli } from './program.js';
export { processIo, type CliIo } from './io.js';
export { CliError, type CliErrorCode } from './errors.js';
export { readLines, type Line } from './lines.js';
export { parseGenerateOptions, DEFAULT_FROM, type GenerateRequest } from './generate.js';

export { EXCHANGE_CHANNEL_OPTIONS } from './exchange-client.js';
export { wbx, type CliRun } from './run-captured.js';
export { unary } from './exchange-client.js';
export { wbxBinary } from './binary.js';
export { GATEWAY_NODE_FLAGS, nodeFlagsToAdd } from './node-flags.js';
