// The transport ceiling for the serving benchmark: a uWebSockets.js hello world, the
// same library and build as hotpath's front end, doing no work per request.
import uWS from 'uWebSockets.js';

const port = Number(process.argv[2] ?? 18090);
uWS
  .App()
  .get('/*', (res) => res.cork(() => res.writeHeader('content-type', 'application/json').end('{"hello":"world"}')))
  .listen('127.0.0.1', port, (sock) => {
    if (!sock) process.exit(1);
  });
