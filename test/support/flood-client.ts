/**
 * A hostile terminal client in a process of its own (so that its own work
 * does not weigh on the server it attacks, when both would otherwise share
 * the test's process): it opens a terminal and floods it with one-byte bad
 * frames for a while, reading nothing, then prints whether the server cut
 * it off, as JSON on stdout.
 *
 *   node test/support/flood-client.ts <port> <origin> <cookie> <milliseconds>
 */
import { rawFrame, rawUpgrade } from './raw-websocket.ts';

const [port, origin, cookie, ms] = process.argv.slice(2);
const socket = await rawUpgrade(Number(port), '/api/terminal?lab=palette', { origin: origin ?? '', cookie: cookie ?? '' });
let closed = false;
socket.on('close', () => {
  closed = true;
});
socket.on('error', () => undefined);
const bad = Buffer.concat(Array.from({ length: 512 }, () => rawFrame(0x2, Buffer.of(0x7f))));
const until = Date.now() + Number(ms);
let sent = 0;
while (Date.now() < until && !closed && !socket.destroyed) {
  sent += 512;
  if (!socket.write(bad)) await new Promise((r) => socket.once('drain', r).once('close', r));
}
const cutAfterMs = Number(ms) - (until - Date.now());
socket.destroy();
process.stdout.write(`${JSON.stringify({ closed, sent, cutAfterMs })}\n`);
