import { runCli } from './program.js';

const code = await runCli(process.argv);
// Exit once the output is flushed, without waiting for the event loop to drain: a client that
// failed to connect can leave an internal timer running for seconds.
const flushed = (stream: NodeJS.WriteStream) => new Promise((resolve) => stream.write('', resolve));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
