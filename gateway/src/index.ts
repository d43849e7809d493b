export { runCli } from './cli/program.js';
export { processIo, type CliIo } from './cli/io.js';
export { CliError, type CliErrorCode } from './cli/errors.js';
export { readLines, type Line } from './cli/lines.js';
export { parseGenerateOptions, DEFAULT_FROM, type GenerateRequest } from './cli/generate.js';
export { VerifyPool, type PoolResult, type VerifyPoolOptions } from './verify-pool.js';
export { EXCHANGE_CHANNEL_OPTIONS } from './cli/exchange-client.js';
