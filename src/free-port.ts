// A TCP port on 127.0.0.1 that was free a moment ago: for the SDK's internal metrics exporter,
// the bench's servers and tests. (Another process could take it in between; nothing here races.)
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
