import { describe, expect, it } from 'vitest';
import { addressProblem, TargetGuard, type ResolvedAddress } from '../../src/webhooks/target-guard.js';

const resolver = async (host: string): Promise<ResolvedAddress[]> => {
  const table: Record<string, ResolvedAddress[]> = {
    'ten.test': [{ address: '10.1.2.3', family: 4 }],
    'mixed.test': [{ address: '93.184.216.34', family: 4 }, { address: '192.168.1.1', family: 4 }],
    'public.test': [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 }],
  };
  if (!table[host]) throw new Error('ENOTFOUND');
  return table[host];
};

describe('target guard', () => {
  it('refuses every special-purpose range and accepts public unicast', () => {
    for (const address of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.0.1', '169.254.169.254', '100.100.100.200', '0.0.0.0', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:127.0.0.1', '224.0.0.1']) {
      expect(addressProblem(address), address).not.toBeNull();
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700::1111']) expect(addressProblem(address), address).toBeNull();
  });

  it('https only unless http is allowed; a name with any private address is refused; an unresolvable one too', async () => {
    const strict = new TargetGuard({ allowHttp: false, allowPrivate: false, resolver });
    expect(await strict.problems('https://public.test/x')).toEqual([]);
    expect((await strict.problems('http://public.test/x'))[0]!.message).toBe('url must be https://.');
    expect((await strict.problems('https://ten.test/x'))[0]!.message).toMatch(/private/);
    expect((await strict.problems('https://mixed.test/x'))[0]!.message).toMatch(/private/);
    expect((await strict.problems('https://nowhere.test/x'))[0]!.message).toMatch(/does not resolve/);
    expect((await strict.problems('https://[fd00:ec2::254]/x'))[0]!.message).toMatch(/uniqueLocal/);
    const open = new TargetGuard({ allowHttp: true, allowPrivate: true, resolver });
    expect(await open.problems('http://127.0.0.1:1/x')).toEqual([]);
  });

  it("the connect-time lookup hands over checked addresses only (net.connect's both forms)", async () => {
    const lookup = new TargetGuard({ allowHttp: true, allowPrivate: false, resolver }).connectLookup() as unknown as (
      host: string,
      options: { all?: boolean },
      callback: (error: Error | null, address?: unknown, family?: number) => void,
    ) => void;
    const call = (host: string, all: boolean) => new Promise<[Error | null, unknown, number | undefined]>((resolve) => lookup(host, { all }, (e, a, f) => resolve([e, a, f])));
    expect(await call('public.test', false)).toEqual([null, '93.184.216.34', 4]);
    expect((await call('public.test', true))[1]).toHaveLength(2);
    expect((await call('ten.test', true))[0]?.message).toMatch(/private/);
  });
});
