/**
 * The access code's strength rule and the settings that guard the HTTP
 * surface: a weak CDL_ACCESS_CODE stops the server at start with the rule
 * named, generated codes always pass it, and TRUST_PROXY / SHARED_ADDRESSES
 * are parsed strictly (trusting every proxy is refused).
 */
import { describe, expect, it } from 'vitest';
import { accessCodeBits, MIN_ACCESS_CODE_BITS, weakAccessCode } from '../../labs-server/src/access-code.ts';
import { ConfigError, readConfig, sharedAddresses, trustProxy } from '../../labs-server/src/config.ts';
import { newAccessCode } from '../../labs-server/src/platform-secrets.ts';

describe('the access code rule', () => {
  it('refuses a weak CDL_ACCESS_CODE at start with a ConfigError naming the rule', () => {
    for (const weak of ['ABCD', '1234-5678', 'aaaaaaaaaaaa', 'abab-abab-abab', 'kube-1']) {
      let thrown: unknown;
      try {
        readConfig({ CDL_MODE: 'workshop', CDL_ACCESS_CODE: weak });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, weak).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toMatch(/CDL_ACCESS_CODE/);
      expect((thrown as Error).message).toMatch(new RegExp(`at least ${MIN_ACCESS_CODE_BITS}`));
      expect((thrown as Error).message).toMatch(/log2 of the character classes/);
    }
  });

  it('accepts the codes people use for events, and every generated code', () => {
    for (const strong of ['KUBE-2026', 'container-day', 'KUBE-7Q2X', 'xK9#mP2!qL']) {
      expect(readConfig({ CDL_ACCESS_CODE: strong }).CDL_ACCESS_CODE).toBe(strong);
    }
    for (let i = 0; i < 200; i += 1) expect(weakAccessCode(newAccessCode())).toBeUndefined();
  });

  it('judges the code as it is compared: without spaces, dashes or case', () => {
    expect(accessCodeBits('kube 2026')).toBe(accessCodeBits('KUBE-2026'));
    expect(accessCodeBits('ABCD')).toBeCloseTo(4 * Math.log2(26));
    expect(accessCodeBits('AB12')).toBeCloseTo(4 * Math.log2(36));
    expect(accessCodeBits('AAAAAAAAAAAAAAAAAAAA')).toBeCloseTo(2 * Math.log2(26));
    expect(accessCodeBits('')).toBe(0);
  });
});

describe('the client address settings', () => {
  it('trusts no proxy by default, and only the proxies named', () => {
    expect(trustProxy(readConfig({}))).toBe(false);
    expect(trustProxy(readConfig({ TRUST_PROXY: '1' }))).toBe(1);
    expect(trustProxy(readConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }))).toEqual(['loopback', '10.0.0.0/8']);
    expect(() => readConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY: true would let any client choose its own address/);
    expect(() => readConfig({ TRUST_PROXY: 'my-proxy' })).toThrow(/TRUST_PROXY: .*my-proxy/);
    expect(() => readConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
  });

  it('reads SHARED_ADDRESSES as addresses and ranges, and refuses anything else', () => {
    const shared = sharedAddresses(readConfig({ SHARED_ADDRESSES: '203.0.113.7, 198.51.100.0/24, 2001:db8::/48' }));
    expect(shared.check('203.0.113.7', 'ipv4')).toBe(true);
    expect(shared.check('203.0.113.8', 'ipv4')).toBe(false);
    expect(shared.check('198.51.100.200', 'ipv4')).toBe(true);
    expect(shared.check('2001:db8:0:1::5', 'ipv6')).toBe(true);
    expect(() => readConfig({ SHARED_ADDRESSES: 'venue-nat' })).toThrow(/SHARED_ADDRESSES: not an address or CIDR range: venue-nat/);
    expect(readConfig({}).SESSIONS_PER_ADDRESS).toBe(3);
    expect(() => readConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
  });
});
