// The transport ceilings for the serving benchmark, on the same uWebSockets.js build as
// hotpath's front end: GET answers a constant (what a feature read cannot beat), and POST
// reads the body, parses it as JSON and answers a number from it (what a predict cannot
// beat: the same request and body handling, no model).
import uWS from 'uWebSockets.js';

const port = Number(process.argv[2] ?? 18090);
uWS
  .App()
  .get('/*', (res) => res.cork(() => res.writeHeader('content-type', 'application/json').end('{"hello":"world"}')))
  .post('/*', (res) => {
    res.onAborted(() => (res.aborted = true));
    res.onData((chunk, isLast) => {
      if (!isLast) return; // the benchmark's bodies come in one chunk
      const body = JSON.parse(Buffer.from(chunk).toString('utf8'));
      res.cork(() => res.writeHeader('content-type', 'application/json').end(`{"score":${body.fields.amount}}`));
    });
  })
  .listen('127.0.0.1', port, (sock) => {
    if (!sock) process.exit(1);
  });
