// Who a request comes from, for the limits per client address (guest sign-ins, connections):
// the same address Fastify's `request.ip` gives, through the proxies TRUST_PROXY names, and the
// key a limit counts it under.
import type { IncomingMessage } from 'node:http'
import proxyAddr from '@fastify/proxy-addr'
import ipaddr from 'ipaddr.js'

/**
 * The client's address of a raw request, as Fastify works it out with the same `trustProxy`:
 * the peer's address, or the nearest untrusted one in X-Forwarded-For.
 */
export function clientAddressResolver(trust: boolean | string[]): (req: IncomingMessage) => string {
  if (trust === false) return (req) => req.socket.remoteAddress ?? ''
  const trusted = compileTrust(trust)
  return (req) => proxyAddr(req, trusted)
}

/** Whether a raw request comes straight from a proxy TRUST_PROXY names (its X-Forwarded-* count). */
export function trustedPeerResolver(trust: boolean | string[]): (req: IncomingMessage) => boolean {
  const trusted = compileTrust(trust)
  return (req) => trusted(req.socket.remoteAddress ?? '', 0)
}

/** TRUST_PROXY as proxy-addr's test of one hop. */
function compileTrust(trust: boolean | string[]): (address: string, hop: number) => boolean {
  return typeof trust === 'boolean' ? () => trust : proxyAddr.compile(trust)
}

/**
 * The key a per-address limit counts an address under: an IPv4 address (also when written as
 * IPv6, `::ffff:a.b.c.d`) is itself; an IPv6 address counts as its /64, the block one
 * subscriber is given, or a client could take a fresh address from it for every request.
 */
export function addressKey(address: string): string {
  if (!ipaddr.isValid(address)) return address
  let parsed = ipaddr.parse(address)
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress())
    parsed = (parsed as ipaddr.IPv6).toIPv4Address()
  if (parsed.kind() === 'ipv4') return parsed.toString()
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4)
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`
}
