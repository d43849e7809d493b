import { fileURLToPath } from 'node:url';

/** Directory holding the `.proto` files (`wbx/v1/*.proto`), for dynamic loaders such as @grpc/proto-loader. */
export const protoDir: string = fileURLToPath(new URL('../', import.meta.url));
