// Main-thread time to take a 1 MiB request body sent in chunked transfer encoding with
// tiny chunks (uWS calls the body handler once per chunk): the time from the first byte
// sent to the answer, per chunk size. TREE is a built hotpath checkout (dist/ and its
// addon); its hotpath.yaml is served in this process. Run two trees in alternation to
// compare them (the machine's noise is in the spread between a tree's own rounds).
//   npx tsx bench/tools/chunked-body.ts TREE [chunk sizes, default 1,16,1024] [rounds=2]
import { connect } from 'node:net';

const [root, sizesArg = '1,16,1024', roundsArg = '2'] = process.argv.slice(2);
const { loadConfigFile } = await import(`${root}/dist/config/load.js`);
const { startServer } = await import(`${root}/dist/server/app.js`);
const server = await startServer({ config: loadConfigFile(`${root}/hotpath.yaml`), port: 0, host: '127.0.0.1', log: () => {} });
const limit: number = server.config.server.maxBodyBytes;

function wire(chunk: number): Buffer {
  const body = Buffer.alloc(limit - 16, 'x'); // not JSON: the answer is a 400 once it is all read
  const parts = [Buffer.from('POST /v1/events HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n')];
  for (let i = 0; i < body.length; i += chunk) {
    const c = body.subarray(i, i + chunk);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

function send(bytes: Buffer): Promise<{ ms: number; status: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = connect(server.port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        s.destroy();
        resolve({ ms: performance.now() - t0, status: got.slice(9, 12) });
      }
    });
    s.on('error', () => {});
  });
}

for (let round = 1; round <= Number(roundsArg); round++) {
  for (const size of sizesArg.split(',').map(Number)) {
    const bytes = wire(size);
    const r = await send(bytes);
    console.log(`${root} round ${round}: ${size}-byte chunks (${(bytes.length / 2 ** 20).toFixed(1)} MiB on the wire): ${r.ms.toFixed(0)} ms, status ${r.status}`);
  }
}
await server.close();
process.exit(0);
