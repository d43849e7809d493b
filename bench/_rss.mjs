// Preloaded into a benchmarked child process (node --import): writes its peak RSS (KiB) on exit.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.WBX_RSS_FILE)
    writeFileSync(process.env.WBX_RSS_FILE, String(process.resourceUsage().maxRSS));
});
