// A TCP port on 127.0.0.1 that was free a moment ago: for the SDK's internal metrics exporter,
// the bench's dev server and tests. Another process could take it before the caller binds it;
// the caller then fails to listen, with an error, rather than sharing it.
import net from 'node:net';

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
