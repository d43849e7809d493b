export { TurnBatcher, type TurnBatcherOptions } from './turn-batcher.js';
