export { natsServerConfig, type NatsServerConfig } from './config.js';
export { NatsServerError, type NatsServerErrorCode } from './errors.js';
export {
  launchNatsServer,
  type LaunchOptions,
  type NatsServerExit,
  type NatsServerProcess,
} from './launch.js';
