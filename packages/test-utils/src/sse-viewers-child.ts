// The child process of measureSseViewers: the viewers, apart from the app they measure.
import { runSseViewersChild } from './sse-viewers.js';

await runSseViewersChild();
process.exit(0);
