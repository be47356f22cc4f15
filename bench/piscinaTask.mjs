// A piscina task that does nothing: the per-call cost of posting work through piscina's message queue.
export default function noop(x) {
  return x;
}
