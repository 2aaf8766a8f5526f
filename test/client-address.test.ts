import type { IncomingMessage } from 'node:http'
import t from 'tap'
import { addressKey, clientAddressResolver } from '../src/client-address.js'

t.test('a per-address limit counts IPv4 addresses alone and IPv6 addresses by their /64', async (t) => {
  t.equal(addressKey('203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7', 'IPv4 written as IPv6 is the same client')
  t.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64', 'any spelling, any host part')
  t.equal(addressKey('2001:db8:1:3::1'), '2001:db8:1:3::/64')
  t.equal(addressKey('::1'), '::/64')
  t.equal(addressKey('not an address'), 'not an address', 'anything else is its own key')
})

t.test('the client address is found as Fastify finds request.ip', async (t) => {
  const req = (peer: string, forwarded?: string) =>
    ({
      socket: { remoteAddress: peer },
      connection: { remoteAddress: peer },
      headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded }
    }) as unknown as IncomingMessage
  t.equal(clientAddressResolver(false)(req('10.0.0.5', '198.51.100.1')), '10.0.0.5', 'no proxy: the header is ignored')
  t.equal(
    clientAddressResolver(['10.0.0.0/8'])(req('10.0.0.5', '198.51.100.1')),
    '198.51.100.1',
    'a trusted proxy names the client'
  )
  t.equal(
    clientAddressResolver(['10.0.0.0/8'])(req('192.0.2.9', '198.51.100.1')),
    '192.0.2.9',
    'an untrusted peer does not'
  )
  t.equal(
    clientAddressResolver(['10.0.0.0/8'])(req('10.0.0.5', '198.51.100.1, 10.0.0.7')),
    '198.51.100.1',
    'through a chain of trusted hops'
  )
  t.equal(
    clientAddressResolver(['10.0.0.0/8'])(req('10.0.0.5', '198.51.100.1, 192.0.2.9')),
    '192.0.2.9',
    'up to the first untrusted one'
  )
  t.equal(
    clientAddressResolver(true)(req('192.0.2.9', '198.51.100.1, 192.0.2.8')),
    '198.51.100.1',
    'true trusts every hop'
  )
})
