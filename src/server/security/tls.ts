// TLS: the uWS app is an SSLApp when the config has a `tls` section. Certificates are
// swapped without dropping the service (Server.reloadTls, SIGHUP): a new SSLApp with the
// same routes listens on the same port, then the old listen socket is closed. uSockets
// sets SO_REUSEPORT on Linux, so both sockets share the port for that moment; connections
// already open on the old app keep their certificate until they close, new ones get the
// new one. An auto-bound port (port 0) cannot be shared that way on Linux, so with TLS a
// port 0 is resolved to a free port first and then bound explicitly.
import uWS from 'uWebSockets.js';

import type { TlsDef } from '../../config/load.js';
import { HotpathError } from '../../errors.js';

/** App or SSLApp; throws HP_ERR_CONFIG_INVALID (/tls) when uWS refuses the files. */
export function createApp(tls: TlsDef | null): uWS.TemplatedApp {
  if (!tls) return uWS.App();
  try {
    return uWS.SSLApp({
      cert_file_name: tls.certFile,
      key_file_name: tls.keyFile,
      ...(tls.caFile ? { ca_file_name: tls.caFile } : {}),
      ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    });
  } catch (err) {
    // uWS says only "App construction failed": a file that is not PEM, a key that does not
    // match the certificate, a wrong passphrase.
    throw new HotpathError('HP_ERR_CONFIG_INVALID', `/tls: the certificate, key or CA could not be loaded (${tls.certFile}, ${tls.keyFile}${tls.caFile ? `, ${tls.caFile}` : ''}): ${(err as Error).message}`, {
      path: '/tls',
    });
  }
}

export function listen(app: uWS.TemplatedApp, host: string, port: number): Promise<uWS.us_listen_socket> {
  return new Promise((resolve, reject) => {
    app.listen(host, port, (sock) => (sock ? resolve(sock) : reject(new Error(`cannot listen on ${host}:${port}`))));
  });
}

/** A free port on host, found by binding port 0 and letting it go. */
export async function freePort(host: string): Promise<number> {
  const sock = await listen(uWS.App(), host, 0);
  const port = uWS.us_socket_local_port(sock);
  uWS.us_listen_socket_close(sock);
  return port;
}

/** Loopback addresses: listening there exposes nothing to other machines. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
