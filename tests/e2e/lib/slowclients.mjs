// Holds many idle and slow connections to a server from 127.0.0.1:
// `node slowclients.mjs PORT COUNT`. Half send nothing, half send a request
// line and then one header byte a second; any the server closes is opened
// again a second later. Prints {"live": N, "ended": M} every second: the
// sockets connected now, and those that ended (closed or reset) so far.
import net from 'node:net';

const [port, count] = process.argv.slice(2).map(Number);
let live = 0;
let ended = 0;

function connect(i) {
  const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
  let timer = null;
  let connected = false;
  s.on('connect', () => {
    connected = true;
    live += 1;
    if (i % 2 === 1) {
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => s.write('x'), 1000);
    }
  });
  s.on('error', () => {});
  s.on('end', () => s.destroy());
  s.on('close', () => {
    clearInterval(timer);
    if (connected) live -= 1;
    ended += 1;
    setTimeout(() => connect(i), 1000);
  });
}

for (let i = 0; i < count; i += 1) {
  connect(i);
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, 20));
}
setInterval(() => process.stdout.write(`${JSON.stringify({ live, ended })}\n`), 1000);
